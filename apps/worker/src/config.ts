import { readFileSync } from 'node:fs';
import { DEFAULT_KEY_PREFIX, encodeChannelAsStreamName, RECORDINGS_QUEUE } from '@recfleet/contract';
import { StorageProfilesSchema } from '@recfleet/storage';
import { z } from 'zod';

/** The one worker config, validated at start-up; every refusal names the key. */
export const WorkerConfigSchema = z
  .object({
    redisUrl: z
      .string()
      .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
      .default('redis://127.0.0.1:6379'),
    keyPrefix: z.string().min(1).default(DEFAULT_KEY_PREFIX),
    queueName: z.string().min(1).default(RECORDINGS_QUEUE),
    /** Where segments are written before upload; must survive a process crash (not tmpfs). */
    spoolDir: z.string().min(1).default('/var/lib/recfleet/spool'),
    /** Recordings this process runs at once. */
    maxRecordings: z.number().int().min(1).max(2000).default(50),
    progressIntervalSeconds: z.number().min(1).max(3600).default(60),
    /**
     * How a job's channel becomes a source URL when the job names none: `{appId}` and `{channel}` are
     * URL-encoded, `{channelName}` is the channel as a stream name (`_XX` for every byte but letters,
     * digits and `-`), which any RTMP server accepts.
     */
    channelUrlTemplate: z.string().min(1).default('rtmp://127.0.0.1:1935/{appId}/{channelName}'),
    storageProfiles: StorageProfilesSchema.default({
      local: { type: 'local', root: '/var/lib/recfleet/recordings' },
    }),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict();

export type WorkerConfig = z.output<typeof WorkerConfigSchema>;

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID' as const;
}

/**
 * Reads `RECFLEET_CONFIG` (a JSON file) if set, then applies environment overrides
 * (`RECFLEET_REDIS_URL`, `RECFLEET_SPOOL_DIR`, `RECFLEET_MAX_RECORDINGS`, `RECFLEET_LOG_LEVEL`).
 */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  let raw: Record<string, unknown> = {};
  const file = env.RECFLEET_CONFIG;
  if (file) {
    try {
      raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
  }
  if (env.RECFLEET_REDIS_URL) raw.redisUrl = env.RECFLEET_REDIS_URL;
  if (env.RECFLEET_SPOOL_DIR) raw.spoolDir = env.RECFLEET_SPOOL_DIR;
  if (env.RECFLEET_MAX_RECORDINGS) raw.maxRecordings = Number(env.RECFLEET_MAX_RECORDINGS);
  if (env.RECFLEET_LOG_LEVEL) raw.logLevel = env.RECFLEET_LOG_LEVEL;
  const parsed = WorkerConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`invalid worker config${file ? ` (${file})` : ''}:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** Expands the channel URL template; every part is encoded so a channel cannot alter the URL. */
export function channelSourceUrl(template: string, appId: string, channel: string): string {
  return template
    .replaceAll('{appId}', encodeURIComponent(appId))
    .replaceAll('{channelName}', encodeChannelAsStreamName(channel))
    .replaceAll('{channel}', encodeURIComponent(channel));
}
