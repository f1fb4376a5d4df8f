import { webhookSecretProblem } from '@recfleet/client';
import { DEFAULT_KEY_PREFIX, RedisUrlSchema, RECORDINGS_QUEUE } from '@recfleet/contract';
import { resolveSecret, SecretRefSchema, StorageError } from '@recfleet/storage';
import { z } from 'zod';
import { configJsonSchema, type EnvKey, loadConfig } from '@recfleet/contract/service';

/** The API's default bound on a Redis call: answers (503 included) come within 3 s. */
export const API_REDIS_TIMEOUT_MS = 2500;

/** Where the configs' JSON Schemas are published (their `$id`s), beside the job contract's. */
export const API_CONFIG_SCHEMA_ID = 'https://recfleet.dev/schema/api-config.schema.json';
export const WEBHOOKS_CONFIG_SCHEMA_ID = 'https://recfleet.dev/schema/webhooks-config.schema.json';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * A secret of the config: a literal, `{ "file": PATH }` (a mounted Docker/Kubernetes secret; one
 * trailing newline is dropped) or `{ "env": NAME }`, resolved on this host when the config is read,
 * then checked with `check`. The JSON Schema shows the reference's forms.
 */
function secretSchema(env: Record<string, string | undefined>, check: z.ZodType<string, string>) {
  return SecretRefSchema.transform((ref, ctx) => {
    try {
      return resolveSecret(ref, env, 'secret');
    } catch (err) {
      if (!(err instanceof StorageError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message.replace(/^secret: /, '') });
      return z.NEVER;
    }
  }).pipe(check);
}

const ApiKeySchema = z
  .string()
  .min(16, 'must be at least 16 characters')
  .max(256)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

const WebhookSecretSchema = z.string().superRefine((secret, ctx) => {
  const problem = webhookSecretProblem(secret);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** The webhook dispatcher's settings: the API's `webhooks` section, and recfleet-webhooks' own. */
function webhooksSection(env: Record<string, string | undefined>) {
  return z
    .object({
      /**
       * The Standard Webhooks secret (`whsec_<base64>`) every delivery is signed with; without it no
       * webhooks are sent from this process.
       */
      secret: secretSchema(env, WebhookSecretSchema).optional().meta({
        description:
          'The Standard Webhooks secret, whsec_<base64 key>: a literal, { "file": PATH } or { "env": NAME }',
      }),
      /** During a rotation: the secrets receivers may still verify with; deliveries are signed with these too. */
      previousSecrets: z
        .array(secretSchema(env, WebhookSecretSchema))
        .default([])
        .meta({ description: 'Secrets being rotated out: every delivery is signed with each of them too' }),
      /** Run the webhook dispatcher inside the API process (default true when a secret is set). */
      enabled: z.boolean().optional(),
      initialRetryDelayMs: z.number().int().min(10).max(3_600_000).default(1000),
      maxRetryDelayMs: z.number().int().min(10).max(86_400_000).default(300_000),
      maxAttempts: z.number().int().min(1).max(1000).default(15),
      timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    })
    .strict();
}

/** The API process's config (`recfleet-api`), validated at start-up; every refusal names the key. */
export function apiConfigSchema(env: Record<string, string | undefined> = process.env) {
  return z
    .object({
      $schema: z
        .string()
        .optional()
        .meta({ description: `This config's JSON Schema (${API_CONFIG_SCHEMA_ID})` }),
      /** One Redis, or the primary Sentinel names (`redis+sentinel://…`, docs/operations.md). */
      redisUrl: RedisUrlSchema.default('redis://127.0.0.1:6379'),
      keyPrefix: z.string().min(1).default(DEFAULT_KEY_PREFIX),
      queueName: z.string().min(1).default(RECORDINGS_QUEUE),
      /**
       * Bound on each Redis call of a request, ms: a request Redis does not answer is answered 503 within
       * it (default 2500, so within 3 s with the HTTP round trip).
       */
      redisTimeoutMs: z.number().int().min(100).max(60_000).default(API_REDIS_TIMEOUT_MS),
      host: z
        .string()
        .min(1)
        .default('127.0.0.1')
        .meta({ description: 'Interface to listen on (0.0.0.0: all)' }),
      /** 0 picks a free port (printed at start). */
      port: z.number().int().min(0).max(65535).default(8080),
      /** Bearer tokens accepted by every route under /v1 and the dashboards; at least one, each 16–256 characters. */
      apiKeys: z.array(secretSchema(env, ApiKeySchema)).min(1, 'must list at least one API key').meta({
        description:
          'API keys (16–256 printable characters each): literals, { "file": PATH } or { "env": NAME }',
      }),
      webhooks: webhooksSection(env).default({
        previousSecrets: [],
        initialRetryDelayMs: 1000,
        maxRetryDelayMs: 300_000,
        maxAttempts: 15,
        timeoutMs: 10_000,
      }),
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
      logLevel: z.enum(LOG_LEVELS).default('info'),
    })
    .strict();
}

export type ApiConfig = z.output<ReturnType<typeof apiConfigSchema>>;

/** recfleet-webhooks' config: the fleet's Redis, the `webhooks` section, where /metrics is served. */
export function webhooksConfigSchema(env: Record<string, string | undefined> = process.env) {
  return z
    .object({
      $schema: z
        .string()
        .optional()
        .meta({ description: `This config's JSON Schema (${WEBHOOKS_CONFIG_SCHEMA_ID})` }),
      redisUrl: RedisUrlSchema.default('redis://127.0.0.1:6379'),
      keyPrefix: z.string().min(1).default(DEFAULT_KEY_PREFIX),
      webhooks: webhooksSection(env)
        .extend({
          secret: secretSchema(env, WebhookSecretSchema).meta({
            description: 'The Standard Webhooks secret, whsec_<base64 key>',
          }),
        })
        .omit({ enabled: true }),
      /** `/metrics` (Prometheus) and `/healthz` of the dispatcher; port 0 picks a free one. */
      metrics: z
        .object({
          host: z.string().min(1).default('127.0.0.1'),
          port: z.number().int().min(0).max(65535).default(9465),
        })
        .strict()
        .default({ host: '127.0.0.1', port: 9465 }),
      logLevel: z.enum(LOG_LEVELS).default('info'),
    })
    .strict();
}

export type WebhooksConfig = z.output<ReturnType<typeof webhooksConfigSchema>>;

/** The webhook secrets a dispatcher signs with: the current one first, then those being rotated out. */
export function webhookSecrets(section: {
  secret?: string | undefined;
  previousSecrets: string[];
}): string[] {
  return section.secret === undefined ? [] : [section.secret, ...section.previousSecrets];
}

const COMMON_ENV: Readonly<Record<string, EnvKey>> = {
  RECFLEET_REDIS_URL: { key: 'redisUrl' },
  RECFLEET_KEY_PREFIX: { key: 'keyPrefix' },
  RECFLEET_WEBHOOK_SECRET: { key: 'webhooks.secret' },
  RECFLEET_WEBHOOK_SECRET_FILE: { key: 'webhooks.secret', file: true },
  RECFLEET_LOG_LEVEL: { key: 'logLevel' },
};

/** The API's environment variables and the config key each sets (the `…_FILE` ones: read from that file). */
export const API_ENV_KEYS: Readonly<Record<string, EnvKey>> = {
  ...COMMON_ENV,
  RECFLEET_API_HOST: { key: 'host' },
  RECFLEET_API_PORT: { key: 'port', as: 'number' },
  RECFLEET_API_KEYS: { key: 'apiKeys', as: 'list' },
  RECFLEET_API_KEYS_FILE: { key: 'apiKeys', as: 'list', file: true },
  RECFLEET_REDIS_TIMEOUT_MS: { key: 'redisTimeoutMs', as: 'number' },
};

export const WEBHOOKS_ENV_KEYS: Readonly<Record<string, EnvKey>> = {
  ...COMMON_ENV,
  RECFLEET_METRICS_HOST: { key: 'metrics.host' },
  RECFLEET_METRICS_PORT: { key: 'metrics.port', as: 'number' },
};

/**
 * The API's config: the file (`--config`, else `RECFLEET_API_CONFIG`; YAML or JSON), then the
 * environment (API_ENV_KEYS), which wins. Refusals name the key (and the variable it came from); they
 * never echo a key's or secret's value.
 */
export function loadApiConfig(
  env: Record<string, string | undefined> = process.env,
  file: string | undefined = env.RECFLEET_API_CONFIG || undefined,
): ApiConfig {
  return loadConfig({ what: 'API config', schema: apiConfigSchema(env), file, env, envKeys: API_ENV_KEYS });
}

/** recfleet-webhooks' config: the file (`--config`, else `RECFLEET_WEBHOOKS_CONFIG`), then the environment. */
export function loadWebhooksConfig(
  env: Record<string, string | undefined> = process.env,
  file: string | undefined = env.RECFLEET_WEBHOOKS_CONFIG || undefined,
): WebhooksConfig {
  return loadConfig({
    what: 'webhooks config',
    schema: webhooksConfigSchema(env),
    file,
    env,
    envKeys: WEBHOOKS_ENV_KEYS,
  });
}

/** The configs' JSON Schemas (draft 2020-12), generated from the zod schemas: what a config file may hold. */
export function apiConfigJsonSchema(): Record<string, unknown> {
  return configJsonSchema(apiConfigSchema({}), API_CONFIG_SCHEMA_ID, 'recfleet-api');
}

export function webhooksConfigJsonSchema(): Record<string, unknown> {
  return configJsonSchema(webhooksConfigSchema({}), WEBHOOKS_CONFIG_SCHEMA_ID, 'recfleet-webhooks');
}
