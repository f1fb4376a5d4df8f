#!/usr/bin/env node
import { RecordingClient } from '@recfleet/client';
import { WebhookDispatcher } from './webhooks/dispatcher.js';
import { ApiConfigError, loadApiConfig } from './config.js';
import { registerDashboards } from './dashboard/index.js';
import { buildApiServer } from './http/server.js';

let config;
try {
  config = loadApiConfig();
} catch (err) {
  process.stderr.write(`recfleet-api: ${err instanceof ApiConfigError ? err.message : String(err)}\n`);
  process.exit(78); // EX_CONFIG
}

const client = new RecordingClient({
  redisUrl: config.redisUrl,
  keyPrefix: config.keyPrefix,
  queueName: config.queueName,
  redisTimeoutMs: config.redisTimeoutMs,
});
const app = buildApiServer({ client, apiKeys: config.apiKeys, logger: { level: config.logLevel } });
if (config.dashboards.enabled) {
  await app.register(registerDashboards, {
    client,
    redisUrl: config.redisUrl,
    keyPrefix: config.keyPrefix,
    queueName: config.queueName,
    apiKeys: config.apiKeys,
    allowActions: config.dashboards.allowActions,
    storageProfiles: config.dashboards.storageProfiles,
    signedUrlTtlSeconds: config.dashboards.signedUrlTtlSeconds,
    redisTimeoutMs: config.redisTimeoutMs,
  } as Parameters<typeof registerDashboards>[1]);
}
const { secret, enabled, ...retry } = config.webhooks;
const dispatcher =
  secret && enabled !== false
    ? new WebhookDispatcher({
        redisUrl: config.redisUrl,
        keyPrefix: config.keyPrefix,
        secret,
        ...retry,
        log: app.log,
      })
    : undefined;
if (!secret && enabled) app.log.warn('webhooks.enabled is set but no secret: webhooks are not sent');

await app.listen({ host: config.host, port: config.port });
await dispatcher?.start();
const address = app.server.address();
const port = typeof address === 'object' && address ? address.port : config.port;
app.log.info({ port, webhooks: dispatcher !== undefined }, 'api ready');
if (process.env.RECFLEET_READY_LINE) {
  process.stdout.write(`RECFLEET_API_READY ${JSON.stringify({ port })}\n`);
}

let stopping = false;
const shutdown = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  app.log.info({ signal }, 'shutting down');
  void (async () => {
    await app.close().catch(() => undefined);
    await dispatcher?.close().catch(() => undefined);
    await client.close();
  })().finally(() => process.exit(0));
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
