import {
  DEFAULT_KEY_PREFIX,
  GAP_SECONDS_RULE,
  REDUNDANCY_RULE,
  numberSchema,
  RedisUrlSchema,
  RECORDINGS_QUEUE,
} from '@recfleet/contract';
import {
  configJsonSchema,
  configProblems,
  type EnvKey,
  loadConfig,
  readConfigFile,
} from '@recfleet/contract/service';
import { openStorage, StorageProfilesSchema } from '@recfleet/storage';
import { z } from 'zod';
import {
  ChannelDirectoryConfigSchema,
  DEFAULT_CHANNEL_DIRECTORY_CONFIG,
  openChannelDirectory,
} from './channel-directory/index.js';

/** Where the worker config's JSON Schema is published (its `$id`), beside the job contract's. */
export const WORKER_CONFIG_SCHEMA_ID = 'https://recfleet.dev/schema/worker-config.schema.json';

/** The one worker config, validated at start-up; every refusal names the key. */
export const WorkerConfigSchema = z
  .object({
    $schema: z
      .string()
      .optional()
      .meta({ description: `This config's JSON Schema (${WORKER_CONFIG_SCHEMA_ID})` }),
    /** One Redis, or the primary Sentinel names (`redis+sentinel://…`, docs/operations.md). */
    redisUrl: RedisUrlSchema.default('redis://127.0.0.1:6379'),
    keyPrefix: z.string().min(1).default(DEFAULT_KEY_PREFIX),
    queueName: z.string().min(1).default(RECORDINGS_QUEUE),
    /** Where segments are written before upload; must survive a process crash (not tmpfs). */
    spoolDir: z.string().min(1).default('/var/lib/recfleet/spool'),
    /** Recordings this process runs at once (however few streams they have). */
    maxRecordings: z.number().int().min(1).max(2000).default(50),
    progressIntervalSeconds: z.number().min(1).max(3600).default(60),
    /** A job's `recordingConfig.gapSeconds` when it names none: silence from a connected source that is a gap. */
    gapSeconds: numberSchema(GAP_SECONDS_RULE).default(GAP_SECONDS_RULE.default),
    /** A job's `recordingConfig.redundancy` when it names none: 2 gives each a standby. */
    redundancy: numberSchema(REDUNDANCY_RULE).default(REDUNDANCY_RULE.default),
    /**
     * A standby keeps its finished segments while the newer ones last less than this: it must cover the
     * time from the owner's loss to the standby's claim (takeoverAfterSeconds) with room to spare.
     */
    standbyWindowSeconds: z.number().min(10).max(3600).default(60),
    /** Where a channel recording (no `sourceUrl`) finds the channel's users: channel-directory/. */
    channelDirectory: ChannelDirectoryConfigSchema.default(DEFAULT_CHANNEL_DIRECTORY_CONFIG),
    storageProfiles: StorageProfilesSchema.default({
      local: { type: 'local', root: '/var/lib/recfleet/recordings' },
    }),
    /**
     * Admission control, by streams: the host records at most budget / cost streams (a single-stream
     * recording costs one, a channel recording reserves its maxUsers) in at most maxRecordings
     * recordings, and takes nothing while its measured use is over budget. Costs default to what the
     * engine benchmark measured for a 720p30 stream, with head-room.
     */
    admission: z
      .object({
        cpuBudgetCores: z.number().positive().optional(),
        memoryBudgetMb: z.number().positive().optional(),
        cpuCoresPerStream: z.number().positive().default(0.01),
        memoryMbPerStream: z.number().positive().default(8),
      })
      .strict()
      .default({ cpuCoresPerStream: 0.01, memoryMbPerStream: 8 }),
    /** Port of the HTTP endpoint with /metrics, /healthz and /readyz (0: a free port; omit: none). */
    httpPort: z.number().int().min(0).max(65535).optional(),
    httpHost: z.string().default('0.0.0.0'),
    /** Uploads in flight on this host, across all its recordings. */
    uploadConcurrency: z.number().int().min(1).max(1024).default(16),
    /** Limit of one upload attempt; a slower one is abandoned and retried. */
    uploadAttemptTimeoutSeconds: z.number().min(1).max(3600).default(60),
    /**
     * Where segments go when the primary store keeps failing: another profile (a second bucket, or a
     * `local` profile on durable, shared disk). Without it a segment the primary refuses stays in the
     * spool and the recording fails.
     */
    backup: z
      .object({
        profile: z.string().min(1),
        /** Give up on the primary for a segment after this many attempts… */
        afterAttempts: z.number().int().min(1).max(100).default(3),
        /** …or this many seconds after the segment closed. */
        afterSeconds: z.number().min(1).max(3600).default(20),
      })
      .strict()
      .optional(),
    /**
     * Job lock of a running recording, renewed every half of it. A crashed worker's recordings resume
     * elsewhere after at most about `lockSeconds + 2 × stalledCheckSeconds` + the join: the lock must
     * expire, and the fleet runs one stalled check per interval, which the dead worker may have taken
     * last (measured by `npm run bench:fleet`: 6.2 s median, 8 s max with 6 and 1). The lock is the
     * job's, not the recording's: an owner whose lock lapsed in an outage of Redis records on (its
     * heartbeat decides), and whoever holds the job then completes it from the record.
     */
    lockSeconds: z.number().min(2).max(600).default(6),
    stalledCheckSeconds: z.number().min(1).max(600).default(1),
    /** How often an owner stamps its heartbeat on each of its recordings. */
    heartbeatSeconds: z.number().min(0.2).max(60).default(1),
    /**
     * An owner whose heartbeat is older than this may be replaced (a crash, a partition): another worker
     * holding the job claims the recording. At least twice `heartbeatSeconds`.
     */
    takeoverAfterSeconds: z.number().min(0.5).max(600).default(3),
    /**
     * After an outage of Redis (a gap in every worker's fleet clock ticks), owners whose heartbeat
     * stopped during it are given this long to reconnect and heartbeat before anyone takes over.
     */
    outageGraceSeconds: z.number().min(0).max(600).default(10),
    /** On SIGTERM, how long to wait for another worker to hand recordings to before finalizing them. */
    shutdownGraceSeconds: z.number().min(0).max(3600).default(30),
    /** How often the backup drain (a BullMQ job scheduler; any worker runs it) looks for work. */
    drainIntervalSeconds: z.number().min(1).max(3600).default(15),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict()
  .refine((c) => c.takeoverAfterSeconds >= 2 * c.heartbeatSeconds, {
    path: ['takeoverAfterSeconds'],
    message: 'must be at least twice heartbeatSeconds (one late heartbeat must not look like a dead owner)',
  });

export type WorkerConfig = z.output<typeof WorkerConfigSchema>;

export { ConfigError } from '@recfleet/contract/service';

/** The worker's environment variables and the config key each sets; they win over the file. */
export const WORKER_ENV_KEYS: Readonly<Record<string, EnvKey>> = {
  RECFLEET_REDIS_URL: { key: 'redisUrl' },
  RECFLEET_KEY_PREFIX: { key: 'keyPrefix' },
  RECFLEET_SPOOL_DIR: { key: 'spoolDir' },
  RECFLEET_MAX_RECORDINGS: { key: 'maxRecordings', as: 'number' },
  RECFLEET_HTTP_HOST: { key: 'httpHost' },
  RECFLEET_HTTP_PORT: { key: 'httpPort', as: 'number' },
  RECFLEET_LOG_LEVEL: { key: 'logLevel' },
};

/**
 * The worker's config: the file (`--config FILE`, else `RECFLEET_CONFIG`; YAML for `.yaml`/`.yml`,
 * else JSON), then the environment (WORKER_ENV_KEYS), which wins. Every storage profile and the channel
 * directory are opened too (their secrets resolved), so that a config that cannot run is refused at
 * start-up, naming the key, not at the first job.
 */
export function loadWorkerConfig(
  env: NodeJS.ProcessEnv = process.env,
  file: string | undefined = env.RECFLEET_CONFIG || undefined,
): WorkerConfig {
  const config = loadConfig({
    what: 'worker config',
    schema: WorkerConfigSchema,
    file,
    env,
    envKeys: WORKER_ENV_KEYS,
  });
  // Every profile must open now (secrets resolved, backup able to serve reads), not at the first job.
  const problems: string[] = [];
  for (const name of Object.keys(config.storageProfiles)) {
    try {
      openStorage(config.storageProfiles, name, env);
    } catch (err) {
      problems.push(`  storageProfiles.${name}: ${(err as Error).message}`);
    }
  }
  try {
    openChannelDirectory(config.channelDirectory, env);
  } catch (err) {
    problems.push(`  ${(err as Error).message}`);
  }
  if (config.backup) {
    if (!config.storageProfiles[config.backup.profile]) {
      problems.push(`  backup.profile: "${config.backup.profile}" is not one of storageProfiles`);
    } else if (config.storageProfiles[config.backup.profile]?.type === 'qiniu') {
      problems.push(
        '  backup.profile: a qiniu profile cannot serve as a backup (objects are read back by the drain)',
      );
    }
  }
  if (problems.length > 0) throw configProblems('worker config', file, problems);
  return config;
}

/**
 * Where the worker's `redisUrl` came from, for messages about that Redis: the variable, the file, or
 * the default.
 */
export function redisUrlOrigin(env: NodeJS.ProcessEnv, file: string | undefined): string {
  if (env.RECFLEET_REDIS_URL) return 'RECFLEET_REDIS_URL';
  if (file) {
    try {
      if ('redisUrl' in readConfigFile(file)) return `redisUrl in ${file}`;
    } catch {
      // the file was read at start-up; if it has gone since, the default is what cannot be said
    }
  }
  return 'the default redisUrl';
}

/** The worker config's JSON Schema (draft 2020-12), generated from the zod schema: what a config file may hold. */
export function workerConfigJsonSchema(): Record<string, unknown> {
  return configJsonSchema(WorkerConfigSchema, WORKER_CONFIG_SCHEMA_ID, 'recfleet-worker');
}
