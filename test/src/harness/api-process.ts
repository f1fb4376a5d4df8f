import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ManagedProcess } from '@recfleet/embedded';

export interface ApiProcessOptions {
  redisUrl: string;
  apiKeys: string[];
  webhookSecret?: string;
  env?: Record<string, string>;
  /** Command-line arguments (`--config FILE`). */
  args?: string[];
}

/** The API package's bins, as npm links them (`recfleet-api`, `recfleet-webhooks`). */
export function apiBin(name: 'recfleet-api' | 'recfleet-webhooks'): string {
  const pkg = dirname(createRequire(import.meta.url).resolve('@recfleet/api/package.json'));
  return join(pkg, name === 'recfleet-api' ? 'dist/main.js' : 'dist/webhooks/main.js');
}

/** Starts `recfleet-api` as a real process on a free port and waits until it serves. */
export async function startApiProcess(
  options: ApiProcessOptions,
): Promise<ManagedProcess & { port: number; baseUrl: string }> {
  const proc = new ManagedProcess(
    'api',
    process.execPath,
    [apiBin('recfleet-api'), ...(options.args ?? [])],
    {
      env: {
        ...process.env,
        RECFLEET_REDIS_URL: options.redisUrl,
        RECFLEET_API_KEYS: options.apiKeys.join(','),
        RECFLEET_API_PORT: '0',
        RECFLEET_API_HOST: '127.0.0.1',
        RECFLEET_LOG_LEVEL: 'warn',
        RECFLEET_READY_LINE: '1',
        ...(options.webhookSecret ? { RECFLEET_WEBHOOK_SECRET: options.webhookSecret } : {}),
        ...options.env,
      },
    },
  );
  const line = await proc.waitForLine((l) => l.includes('RECFLEET_API_READY'), 30_000);
  const { port } = JSON.parse(line.slice(line.indexOf('{'))) as { port: number };
  return Object.assign(proc, { port, baseUrl: `http://127.0.0.1:${port}` });
}

export interface WebhooksProcessOptions {
  redisUrl: string;
  webhookSecret: string;
  env?: Record<string, string>;
}

/** Starts `recfleet-webhooks` as a real process, its /metrics on a free port, and waits until it runs. */
export async function startWebhooksProcess(
  options: WebhooksProcessOptions,
): Promise<ManagedProcess & { metricsUrl: string }> {
  const proc = new ManagedProcess('webhooks', process.execPath, [apiBin('recfleet-webhooks')], {
    env: {
      ...process.env,
      RECFLEET_REDIS_URL: options.redisUrl,
      RECFLEET_WEBHOOK_SECRET: options.webhookSecret,
      RECFLEET_METRICS_PORT: '0',
      RECFLEET_LOG_LEVEL: 'warn',
      RECFLEET_READY_LINE: '1',
      ...options.env,
    },
  });
  const line = await proc.waitForLine((l) => l.includes('RECFLEET_WEBHOOKS_READY'), 30_000);
  const { metricsPort } = JSON.parse(line.slice(line.indexOf('{'))) as { metricsPort: number };
  return Object.assign(proc, { metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` });
}
