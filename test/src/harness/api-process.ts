import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ManagedProcess } from '@recfleet/embedded';

export interface ApiProcessOptions {
  redisUrl: string;
  apiKeys: string[];
  webhookSecret?: string;
  env?: Record<string, string>;
}

/** Starts `recfleet-api` as a real process on a free port and waits until it serves. */
export async function startApiProcess(
  options: ApiProcessOptions,
): Promise<ManagedProcess & { port: number; baseUrl: string }> {
  const main = join(dirname(createRequire(import.meta.url).resolve('@recfleet/api')), 'main.js');
  const proc = new ManagedProcess('api', process.execPath, [main], {
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
  });
  const line = await proc.waitForLine((l) => l.includes('RECFLEET_API_READY'), 30_000);
  const { port } = JSON.parse(line.slice(line.indexOf('{'))) as { port: number };
  return Object.assign(proc, { port, baseUrl: `http://127.0.0.1:${port}` });
}
