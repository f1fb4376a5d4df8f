#!/usr/bin/env node
/**
 * The webhook dispatcher on its own (when the API runs without it, or for more of them), with
 * `/metrics` and `/healthz` on a port of its own.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { loadWebhooksConfig, WEBHOOKS_ENV_KEYS, webhookSecrets } from '../config.js';
import { processRegistry } from '../metrics/process-registry.js';
import { observeWebhookDispatcher } from '../metrics/webhook-metrics.js';
import { packageVersion, SERVICE_EXIT, serviceConfig } from '@recfleet/contract/service';
import { WebhookDispatcher } from './dispatcher.js';

const config = serviceConfig(
  {
    name: 'recfleet-webhooks',
    summary:
      "delivers the events of a recfleet fleet's recordings to their callback URLs, signed as Standard Webhooks, with /metrics and /healthz",
    version: packageVersion(new URL('../../package.json', import.meta.url)),
    configVariable: 'RECFLEET_WEBHOOKS_CONFIG',
    schema: '@recfleet/contract/schema/webhooks-config.schema.json',
    envKeys: WEBHOOKS_ENV_KEYS,
    notes: [
      'A reference config, every key commented: infra/config/webhooks.yaml in the repository.',
      'With several running, one holds a lease in Redis and delivers; the others wait to take over.',
    ],
  },
  loadWebhooksConfig,
);

const log = pino({ level: config.logLevel, base: { service: 'recfleet-webhooks' } });
const { secret: _secret, previousSecrets: _previous, ...retry } = config.webhooks;
const dispatcher = new WebhookDispatcher({
  redisUrl: config.redisUrl,
  keyPrefix: config.keyPrefix,
  secret: webhookSecrets(config.webhooks),
  ...retry,
  log,
});
const metrics = processRegistry();
observeWebhookDispatcher(dispatcher, metrics);
const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/metrics') {
    metrics.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err)),
    );
  } else if (path === '/healthz') {
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ status: 'ok', leader: dispatcher.leader }));
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  }
});
await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(config.metrics.port, config.metrics.host, resolve);
});
const { port } = server.address() as AddressInfo;
await dispatcher.start();
log.info({ metricsPort: port }, 'webhook dispatcher started');
if (process.env.RECFLEET_READY_LINE) {
  process.stdout.write(`RECFLEET_WEBHOOKS_READY ${JSON.stringify({ metricsPort: port })}\n`);
}

let stopping = false;
const shutdown = (): void => {
  if (stopping) return;
  stopping = true;
  server.closeAllConnections();
  void Promise.allSettled([dispatcher.close(), new Promise((r) => server.close(r))]).finally(() =>
    process.exit(SERVICE_EXIT.OK),
  );
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
