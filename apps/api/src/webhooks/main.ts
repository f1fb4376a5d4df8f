#!/usr/bin/env node
/**
 * The webhook dispatcher on its own (when the API runs without it, or for more of them): config from
 * `RECFLEET_REDIS_URL`, `RECFLEET_KEY_PREFIX` and `RECFLEET_WEBHOOK_SECRET`.
 */
import { DEFAULT_KEY_PREFIX, RedisUrlSchema } from '@recfleet/contract';
import { z } from 'zod';
import { WebhookDispatcher } from './dispatcher.js';

const Env = z.object({
  RECFLEET_REDIS_URL: RedisUrlSchema.default('redis://127.0.0.1:6379'),
  RECFLEET_KEY_PREFIX: z.string().min(1).default(DEFAULT_KEY_PREFIX),
  RECFLEET_WEBHOOK_SECRET: z.string({ error: 'must be set' }).min(16, 'must be at least 16 characters'),
});
const parsed = Env.safeParse(process.env);
if (!parsed.success) {
  const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
  process.stderr.write(`recfleet-webhooks: invalid environment:\n${lines.join('\n')}\n`);
  process.exit(78);
}
const log = {
  info: (obj: object, msg: string) =>
    process.stdout.write(`${JSON.stringify({ level: 'info', msg, ...obj })}\n`),
  warn: (obj: object, msg: string) =>
    process.stdout.write(`${JSON.stringify({ level: 'warn', msg, ...obj })}\n`),
};
const dispatcher = new WebhookDispatcher({
  redisUrl: parsed.data.RECFLEET_REDIS_URL,
  keyPrefix: parsed.data.RECFLEET_KEY_PREFIX,
  secret: parsed.data.RECFLEET_WEBHOOK_SECRET,
  log,
});
await dispatcher.start();
log.info({}, 'webhook dispatcher started');
const shutdown = (): void => void dispatcher.close().finally(() => process.exit(0));
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
