#!/usr/bin/env node
import { RecordingClient } from '@recfleet/client';
import { API_ENV_KEYS, loadApiConfig, webhookSecrets } from './config.js';
import { registerDashboards } from './dashboard/index.js';
import { buildApiServer } from './http/server.js';
import { processRegistry } from './metrics/process-registry.js';
import { observeWebhookDispatcher } from './metrics/webhook-metrics.js';
import { packageVersion, SERVICE_EXIT, serviceConfig } from '@recfleet/contract/service';
import { WebhookDispatcher } from './webhooks/dispatcher.js';

const config = serviceConfig(
  {
    name: 'recfleet-api',
    summary:
      'the HTTP API of a recfleet fleet (OpenAPI at /openapi.json, for people /docs), its dashboards, /metrics, and with a webhook secret the webhook dispatcher',
    version: packageVersion(new URL('../package.json', import.meta.url)),
    configVariable: 'RECFLEET_API_CONFIG',
    schema: '@recfleet/contract/schema/api-config.schema.json',
    envKeys: API_ENV_KEYS,
    notes: ['A reference config, every key commented: infra/config/api.yaml in the repository.'],
  },
  loadApiConfig,
);

const client = new RecordingClient({
  redisUrl: config.redisUrl,
  keyPrefix: config.keyPrefix,
  queueName: config.queueName,
  redisTimeoutMs: config.redisTimeoutMs,
});
const metrics = processRegistry();
const app = buildApiServer({ client, apiKeys: config.apiKeys, logger: { level: config.logLevel }, metrics });
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
const { enabled, secret: _secret, previousSecrets: _previous, ...retry } = config.webhooks;
const secrets = webhookSecrets(config.webhooks);
const dispatcher =
  secrets.length > 0 && enabled !== false
    ? new WebhookDispatcher({
        redisUrl: config.redisUrl,
        keyPrefix: config.keyPrefix,
        secret: secrets,
        ...retry,
        log: app.log,
      })
    : undefined;
if (dispatcher) observeWebhookDispatcher(dispatcher, metrics);
if (secrets.length === 0 && enabled)
  app.log.warn('webhooks.enabled is set but no secret: webhooks are not sent');

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
  })().finally(() => process.exit(SERVICE_EXIT.OK));
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
