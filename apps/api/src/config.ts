import { readFileSync } from 'node:fs';
import { DEFAULT_KEY_PREFIX, RecfleetError, RedisUrlSchema, RECORDINGS_QUEUE } from '@recfleet/contract';
import { webhookSecretProblem } from '@recfleet/client';
import { z } from 'zod';

/** The API's default bound on a Redis call: answers (503 included) come within 3 s. */
export const API_REDIS_TIMEOUT_MS = 2500;

/** The API process's config, validated at start-up; every refusal names the key. */
export const ApiConfigSchema = z
  .object({
    /** One Redis, or the primary Sentinel names (`redis+sentinel://…`, docs/operations.md). */
    redisUrl: RedisUrlSchema.default('redis://127.0.0.1:6379'),
    keyPrefix: z.string().min(1).default(DEFAULT_KEY_PREFIX),
    queueName: z.string().min(1).default(RECORDINGS_QUEUE),
    /**
     * Bound on each Redis call of a request, ms: a request Redis does not answer is answered 503 within
     * it (default 2500, so within 3 s with the HTTP round trip).
     */
    redisTimeoutMs: z.number().int().min(100).max(60_000).default(API_REDIS_TIMEOUT_MS),
    host: z.string().min(1).default('127.0.0.1'),
    /** 0 picks a free port (printed at start). */
    port: z.number().int().min(0).max(65535).default(8080),
    /** Bearer tokens accepted by every route but /healthz; at least one, each 16–256 characters. */
    apiKeys: z
      .array(
        z
          .string()
          .min(16, 'must be at least 16 characters')
          .max(256)
          .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
      )
      .min(1, 'must list at least one API key'),
    webhooks: z
      .object({
        /**
         * The Standard Webhooks secret (`whsec_<base64>`), or several while receivers move to a new one
         * (each delivery is signed with every one); without it no webhooks are sent from this process.
         */
        secret: z
          .union([z.string(), z.array(z.string()).min(1)])
          .optional()
          .superRefine((value, ctx) => {
            const secrets = value === undefined ? [] : ([] as string[]).concat(value);
            secrets.forEach((secret, i) => {
              const problem = webhookSecretProblem(secret);
              if (problem)
                ctx.addIssue({ code: 'custom', message: problem, path: Array.isArray(value) ? [i] : [] });
            });
          }),
        /** Run the webhook dispatcher inside the API process (default true when a secret is set). */
        enabled: z.boolean().optional(),
        initialRetryDelayMs: z.number().int().min(10).max(3_600_000).default(1000),
        maxRetryDelayMs: z.number().int().min(10).max(86_400_000).default(300_000),
        maxAttempts: z.number().int().min(1).max(1000).default(15),
        timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
      })
      .strict()
      .default({ initialRetryDelayMs: 1000, maxRetryDelayMs: 300_000, maxAttempts: 15, timeoutMs: 10_000 }),
    /**
     * Bull Board (`/admin/queues`) and the recordings page (`/recordings`), behind the same API keys
     * (HTTP Basic with any user name, or Bearer). `storageProfiles` are the workers' profiles whose
     * recordings the page may play: `local` ones from disk, s3/oss/qiniu ones through signed URLs that
     * live `signedUrlTtlSeconds` (see README).
     */
    dashboards: z
      .object({
        enabled: z.boolean().default(true),
        allowActions: z.boolean().default(false),
        storageProfiles: z
          .record(z.string(), z.object({ type: z.string(), root: z.string().optional() }).passthrough())
          .default({}),
        signedUrlTtlSeconds: z.number().int().min(10).max(604_800).default(600),
      })
      .strict()
      .default({ enabled: true, allowActions: false, storageProfiles: {}, signedUrlTtlSeconds: 600 }),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict();

export type ApiConfig = z.output<typeof ApiConfigSchema>;

/** A config that breaks ApiConfigSchema (or cannot be read); the message names every bad key. */
export class ApiConfigError extends RecfleetError {
  declare readonly code: 'CONFIG_INVALID';
  constructor(message: string) {
    super('CONFIG_INVALID', message);
    this.name = 'ApiConfigError';
  }
}

/** Environment variables and the config key each sets. */
const ENV_KEYS: Record<string, string> = {
  RECFLEET_REDIS_URL: 'redisUrl',
  RECFLEET_KEY_PREFIX: 'keyPrefix',
  RECFLEET_API_HOST: 'host',
  RECFLEET_API_PORT: 'port',
  RECFLEET_API_KEYS: 'apiKeys',
  RECFLEET_WEBHOOK_SECRET: 'webhooks.secret',
  RECFLEET_LOG_LEVEL: 'logLevel',
  RECFLEET_REDIS_TIMEOUT_MS: 'redisTimeoutMs',
};

/**
 * Reads `RECFLEET_API_CONFIG` (a JSON file) if set, then the environment (`RECFLEET_REDIS_URL`,
 * `RECFLEET_KEY_PREFIX`, `RECFLEET_API_HOST`, `RECFLEET_API_PORT`, `RECFLEET_API_KEYS` comma-separated,
 * `RECFLEET_WEBHOOK_SECRET`, `RECFLEET_LOG_LEVEL`, `RECFLEET_REDIS_TIMEOUT_MS`), which wins. Refusals name the key (and the variable
 * it came from); they never echo a key's or secret's value.
 */
export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  let raw: Record<string, unknown> = {};
  const file = env.RECFLEET_API_CONFIG;
  if (file) {
    try {
      raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new ApiConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new ApiConfigError(`config file ${file} must hold a JSON object`);
    }
  }
  const fromEnv = new Map<string, string>();
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    fromEnv.set(key, name);
    if (key === 'port' || key === 'redisTimeoutMs') raw[key] = /^\d+$/.test(value) ? Number(value) : value;
    else if (key === 'apiKeys') {
      raw.apiKeys = value
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean);
    } else if (key === 'webhooks.secret') {
      raw.webhooks = { ...((raw.webhooks as object | undefined) ?? {}), secret: value };
    } else raw[key] = value;
  }
  const parsed = ApiConfigSchema.safeParse(raw);
  const where = file ? ` (${file})` : '';
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const path = i.path.map(String);
      const key =
        i.code === 'unrecognized_keys'
          ? i.keys.map((k) => [...path, k].join('.')).join(', ')
          : path.join('.') || '(root)';
      const source = fromEnv.get(path[0] ?? '') ?? fromEnv.get(path.slice(0, 2).join('.'));
      return `  ${key}${source ? ` (from ${source})` : ''}: ${i.message}`;
    });
    throw new ApiConfigError(`invalid API config${where}:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
