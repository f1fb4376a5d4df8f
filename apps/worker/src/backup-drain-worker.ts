import { randomUUID } from 'node:crypto';
import {
  backedUpSetKey,
  drainLockKey,
  MAINTENANCE_QUEUE,
  openRedis,
  recordingRedisKeys,
  runScript,
  trackId,
  trackSegmentsKey,
  type ManifestUser,
} from '@recfleet/contract';
import {
  drainRecording,
  manifestObjectKey,
  recordingObjectKeys,
  userTrackObjectKeys,
  type DrainResult,
  type RecordingObjectKeys,
  type StorageAdapter,
} from '@recfleet/storage';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { buildChannelManifest, manifestFactsOf } from './channel-session/channel-manifest.js';
import { channelManifestWriter, type ManifestWriterFactory } from './channel-session/manifest-writer.js';
import type { WorkerConfig } from './config.js';
import { RecordingRecord } from './recording-record.js';
import { type RedisConnectionLog, RepeatedErrors } from './redis-connection-log.js';
import { RedisSegmentIndex } from './redis-segment-index.js';
import type { StorageRegistry } from './storage-registry.js';

const DRAIN_SCHEDULER_ID = 'backup-drain';
const DRAIN_JOB = 'backup-drain';
/** A drain pass's hold on one recording; a pass that takes longer loses it to the next pass. */
export const DRAIN_LOCK_MS = 120_000;

export interface BackupDrainOptions {
  /** How long a pass holds a recording's drain lock (default DRAIN_LOCK_MS). */
  lockMs?: number;
  /** How a channel recording's manifest is written (default: the storage package's ChannelManifestWriter). */
  createManifestWriter?: ManifestWriterFactory;
  /** The process's account of its Redis connections, which tells an outage once for all of them. */
  connectionLog?: RedisConnectionLog;
}

/**
 * Finishes the delivery of backed-up recordings: a BullMQ job scheduler fires a drain job every
 * `drainIntervalSeconds`; whichever worker takes it moves backed-up segments to their primary store,
 * rewrites the playlist there and marks the recording `uploaded`. Every worker upserts the same
 * scheduler, so there is one schedule however many hosts run, and it survives any of them.
 */
export class BackupDrainWorker {
  private readonly queue: Queue;
  private readonly worker: Worker;
  private readonly redis: Redis;
  private readonly lockMs: number;
  private readonly createManifestWriter: ManifestWriterFactory;

  constructor(
    private readonly config: WorkerConfig,
    private readonly storage: Pick<StorageRegistry, 'get'>,
    private readonly log: Logger,
    options: BackupDrainOptions = {},
  ) {
    this.lockMs = options.lockMs ?? DRAIN_LOCK_MS;
    this.createManifestWriter =
      options.createManifestWriter ?? ((store, key) => channelManifestWriter(store, key));
    const onOutage = options.connectionLog?.onOutage;
    this.redis = openRedis(config.redisUrl, { maxRetriesPerRequest: null }, onOutage);
    const connection = openRedis(config.redisUrl, { maxRetriesPerRequest: null }, onOutage);
    this.queue = new Queue(MAINTENANCE_QUEUE, { connection, prefix: config.keyPrefix });
    this.queue.on('error', () => undefined);
    this.worker = new Worker(MAINTENANCE_QUEUE, () => this.drainAll(), {
      connection: openRedis(config.redisUrl, { maxRetriesPerRequest: null }, onOutage),
      prefix: config.keyPrefix,
      concurrency: 1,
      // Run from start(), once Redis has answered: a loop started before would repeat its connect error.
      autorun: false,
    });
    // BullMQ repeats a lost connection's error every few seconds; the connection log told the outage.
    const repeated = new RepeatedErrors();
    this.worker.on('error', (err) => {
      if (options.connectionLog?.isDown || !repeated.shouldTell(err)) return;
      this.log.warn({ err: err.message }, 'drain worker error');
    });
  }

  async start(): Promise<void> {
    await this.queue.upsertJobScheduler(
      DRAIN_SCHEDULER_ID,
      { every: this.config.drainIntervalSeconds * 1000 },
      { name: DRAIN_JOB, opts: { removeOnComplete: 10, removeOnFail: 10 } },
    );
    await this.worker.waitUntilReady();
    void this.worker.run().catch((err: unknown) => this.log.warn({ err }, 'drain worker stopped'));
  }

  /** One pass over every backed-up recording; returns how many were completed. */
  async drainAll(): Promise<number> {
    const setKey = backedUpSetKey(this.config.keyPrefix);
    let completed = 0;
    for (const recordingId of await this.redis.smembers(setKey)) {
      try {
        if (await this.drainOne(recordingId)) {
          await this.redis.srem(setKey, recordingId);
          completed += 1;
        }
      } catch (err) {
        this.log.warn({ recordingId, err: (err as Error).message }, 'drain failed; retried next pass');
      }
    }
    return completed;
  }

  private async drainOne(recordingId: string): Promise<boolean> {
    const keys = recordingRedisKeys(this.config.keyPrefix, recordingId);
    // Two drain passes (a slow one and the next) must not move the same recording at once.
    const lock = drainLockKey(this.config.keyPrefix, recordingId);
    const token = randomUUID();
    if ((await this.redis.set(lock, token, 'PX', this.lockMs, 'NX')) !== 'OK') return false;
    try {
      const f = await this.redis.hgetall(keys.record);
      if (f.state !== 'backed_up' || !f.storageProfile || !f.backupProfile || f.channel === undefined)
        return false;
      const primary = this.storage.get(f.storageProfile);
      const backup = this.storage.get(f.backupProfile);
      const prefix = f.storagePrefix || undefined;
      const ended = f.ended === '1';
      const epoch = Number(f.epoch);
      // A single stream has one track; a channel recording one per user track, and its manifest.
      const tracks: { keys: RecordingObjectKeys; indexKey: string }[] = [];
      let users: ManifestUser[] = [];
      if (f.kind === 'channel') {
        users = (await this.redis.hvals(keys.users)).map((v) => JSON.parse(v) as ManifestUser);
        for (const u of users) {
          for (const t of u.tracks) {
            tracks.push({
              keys: userTrackObjectKeys(recordingId, f.channel, u.uid, t.type, prefix),
              indexKey: trackSegmentsKey(this.config.keyPrefix, recordingId, trackId(u.uid, t.type)),
            });
          }
        }
      } else {
        tracks.push({ keys: recordingObjectKeys(recordingId, f.channel, prefix), indexKey: keys.segments });
      }
      const results: DrainResult[] = [];
      for (const t of tracks) {
        const index = new RedisSegmentIndex(this.redis, keys.record, t.indexKey, epoch);
        results.push(await drainRecording({ primary, backup, keys: t.keys, index, ended }));
      }
      const moved = results.flatMap((r) => r.moved);
      const record = new RecordingRecord(this.redis, this.config.keyPrefix, recordingId);
      if (moved.length > 0) {
        this.log.info({ recordingId, moved: moved.length }, 'drained backed-up segments to primary');
      }
      if (results.some((r) => r.remaining.length > 0 || !r.playlistWritten)) return false;
      const entryKey =
        f.kind === 'channel'
          ? manifestObjectKey(recordingId, f.channel, prefix)
          : tracks[0]!.keys.playlistKey;
      if (f.kind === 'channel' && !(await this.writeManifest(primary, entryKey, recordingId, f, users))) {
        return false;
      }
      const manifest: Record<string, string> =
        f.kind === 'channel' ? { manifestKey: entryKey, manifestLocation: primary.locate(entryKey) } : {};
      // Not a second terminal event: the recording had its `backed_up`; `drained` completes it.
      await record.drained(
        { backedUp: '', drainedAt: Date.now(), ...manifest },
        { recordingId, moved, playlistKey: entryKey, playlistLocation: primary.locate(entryKey) },
      );

      return true;
    } finally {
      // Only our own lock: a pass slower than the lock's life must not free the next pass's.
      await runScript(this.redis, 'releaseLock', [lock], [token]);
    }
  }

  /** The channel recording's final manifest, built from its record and users hash as its owner did. */
  private async writeManifest(
    primary: StorageAdapter,
    key: string,
    recordingId: string,
    fields: Record<string, string>,
    users: ManifestUser[],
  ): Promise<boolean> {
    const manifest = buildChannelManifest(manifestFactsOf(recordingId, fields), users, true);
    try {
      await this.createManifestWriter(primary, key).finish(manifest);
      return true;
    } catch (err) {
      this.log.warn({ recordingId, err: (err as Error).message }, 'manifest not written; retried next pass');
      return false;
    }
  }

  async close(): Promise<void> {
    for (const step of [() => this.worker.close(), () => this.queue.close(), () => this.redis.quit()]) {
      await step().catch((err: unknown) => this.log.warn({ err }, 'drain close step failed'));
    }
  }
}
