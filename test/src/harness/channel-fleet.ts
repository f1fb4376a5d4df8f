import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  recordingRedisKeys,
  RECORDINGS_QUEUE,
  TERMINAL_EVENTS,
  trackSegmentsKey,
  type ManifestUser,
  type RecordingEvent,
  type RecordingJobInput,
} from '@recfleet/contract';
import { ChannelServer, ChannelUserPublisher, type ManagedProcess } from '@recfleet/embedded';
import { RecordingClient } from '@recfleet/client';
import type { IndexedSegment } from '@recfleet/storage';
import { Redis } from 'ioredis';
import { followRecording, type FollowedRecording } from './fleet-fixture.js';
import { startTestRedis, type TestRedis } from './test-redis.js';
import { startWorkerProcess } from './worker-process.js';

/** A test's timeout, stretched like the suite's defaults by RECFLEET_TEST_TIMEOUT_SCALE. */
export function scaled(ms: number): number {
  return ms * Number(process.env.RECFLEET_TEST_TIMEOUT_SCALE ?? 1);
}

/** What the channel tests publish: small and cheap, a keyframe every second (one per segment cut). */
export const USER_MEDIA = { width: 320, height: 180, frameRate: 15, gop: 15 } as const;

/** A worker process of the fleet, with everything it printed (not only the tail ManagedProcess keeps). */
export type FleetWorker = ManagedProcess & { httpPort: number | null; log(): string };

/**
 * A fleet of channel recordings on one machine: a private Redis, the embedded channel server of users
 * (plays need a channel token), local storage, the producer's RecordingClient, real worker processes
 * whose channel directory is that server, and the users' publishers.
 */
export class ChannelFleet {
  readonly workers: FleetWorker[] = [];
  readonly publishers: ChannelUserPublisher[] = [];
  readonly redisClient: Redis;

  private constructor(
    readonly redis: TestRedis,
    readonly server: ChannelServer,
    readonly client: RecordingClient,
    readonly dir: string,
  ) {
    // A fault test restarts or hangs Redis: the client's errors surface as failed commands.
    this.redisClient = new Redis(redis.url).on('error', () => undefined);
  }

  /** `appendOnly`: Redis keeps its data across a restart or a crash (AOF), for tests that inflict one. */
  static async start(options: { appendOnly?: boolean } = {}): Promise<ChannelFleet> {
    const dir = await mkdtemp(join(tmpdir(), 'recfleet-channels-'));
    const redis = await startTestRedis(options);
    const server = await ChannelServer.start();
    const client = new RecordingClient({ redisUrl: redis.url });
    return new ChannelFleet(redis, server, client, dir);
  }

  get storageRoot(): string {
    return join(this.dir, 'storage');
  }

  /** The worker config's channelDirectory for this fleet's server. */
  get channelDirectory(): Record<string, unknown> {
    return {
      type: 'node-media-server',
      rtmpUrl: this.server.rtmpBaseUrl,
      apiUrl: this.server.apiUrl,
      apiSecret: this.server.apiSecret,
      pollIntervalMs: 250,
    };
  }

  /**
   * Starts a worker process (short locks, as the fault tests run them); `spool` names its spool dir
   * (a restarted host keeps its own). `extra` may replace the storage profiles too. `host`: the host it
   * says it runs on (`HOSTNAME`), for tests of what must be on different hosts.
   */
  async worker(
    name: string,
    extra: Record<string, unknown> = {},
    spool = name,
    host?: string,
  ): Promise<FleetWorker> {
    const w = await startWorkerProcess({
      ...(host ? { env: { HOSTNAME: host } } : {}),
      redisUrl: this.redis.url,
      storageProfiles: { local: { type: 'local', root: this.storageRoot } },
      spoolDir: join(this.dir, `spool-${spool}`),
      extra: {
        lockSeconds: 4,
        stalledCheckSeconds: 1,
        shutdownGraceSeconds: 2,
        channelDirectory: this.channelDirectory,
        ...extra,
      },
    });
    // Its whole output, from the ready line on (the token must never be in any of it).
    const lines: string[] = [];
    const keep = (chunk: Buffer): void => void lines.push(chunk.toString('utf8'));
    w.child.stdout?.on('data', keep);
    w.child.stderr?.on('data', keep);
    const worker = Object.assign(w, { log: () => lines.join('') });
    this.workers.push(worker);
    return worker;
  }

  /** User `uid` of the channel publishing a test pattern; resolves once the server sees the publish. */
  async publish(
    appId: string,
    channel: string,
    uid: number,
    options: { toneHz?: number; audio?: boolean; video?: boolean } = {},
  ): Promise<ChannelUserPublisher> {
    const p = await ChannelUserPublisher.start({
      server: this.server,
      appId,
      channel,
      uid,
      ...USER_MEDIA,
      pattern: 'testsrc2',
      // Its own clock: the truth a recording's program date-times are checked against.
      clock: true,
      toneHz: options.toneHz ?? 300 + (uid % 20) * 50,
      ...(options.audio === false ? { audio: false } : {}),
      ...(options.video === false ? { video: false } : {}),
    });
    this.publishers.push(p);
    return p;
  }

  /** Starts a channel recording (no sourceUrl) admitted by a channel token of the fleet's server. */
  start(o: {
    appId: string;
    channel: string;
    uid: number;
    recordingConfig?: RecordingJobInput['recordingConfig'];
    /** Default: a channel token valid for an hour; `null`: none. */
    token?: string | null;
    recordingId?: string;
    /** Default `local` (the fleet's local store). */
    storageProfile?: string;
  }): Promise<{ recordingId: string; created: boolean }> {
    const token = o.token === undefined ? this.server.channelToken(o.appId, o.channel) : o.token;
    return this.client.start({
      ...(o.recordingId ? { recordingId: o.recordingId } : {}),
      appId: o.appId,
      channel: o.channel,
      uid: o.uid,
      ...(token === null ? {} : { token }),
      recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 30, ...o.recordingConfig },
      storage: { profile: o.storageProfile ?? 'local' },
    });
  }

  /** Collects a recording's events in the background until its first terminal event. */
  follow(recordingId: string): FollowedRecording {
    return followRecording(this.client, recordingId);
  }

  /** Every event of the recording's stream, terminal ones and whatever came after them included. */
  async allEvents(recordingId: string): Promise<RecordingEvent[]> {
    return this.client.events(recordingId, { count: 100_000 });
  }

  /** The terminal events in the recording's whole stream (a recording must have exactly one). */
  async terminalEvents(recordingId: string): Promise<RecordingEvent[]> {
    return (await this.allEvents(recordingId)).filter((e) => TERMINAL_EVENTS.includes(e.type));
  }

  /** The segment index of one user track (`<uid>-<type>`), by sequence. */
  async trackIndex(recordingId: string, track: string): Promise<IndexedSegment[]> {
    return (await this.redisClient.hvals(trackSegmentsKey('recfleet', recordingId, track)))
      .map((v) => JSON.parse(v) as IndexedSegment)
      .sort((a, b) => a.sequence - b.sequence);
  }

  /** The users hash of the recording: uid → their timeline and tracks. */
  async users(recordingId: string): Promise<Map<number, ManifestUser>> {
    const hash = await this.redisClient.hgetall(recordingRedisKeys('recfleet', recordingId).users);
    return new Map(
      Object.entries(hash).map(([uid, json]) => [Number(uid), JSON.parse(json) as ManifestUser]),
    );
  }

  /** The record hash of the recording. */
  record(recordingId: string): Promise<Record<string, string>> {
    return this.redisClient.hgetall(recordingRedisKeys('recfleet', recordingId).record);
  }

  /** Everything the recording left in Redis (record, users, indexes, events), as text. */
  async redisText(recordingId: string): Promise<string> {
    const keys = recordingRedisKeys('recfleet', recordingId);
    const found = await this.redisClient.keys(`${keys.record}*`);
    const parts: string[] = [];
    for (const key of found) {
      const type = await this.redisClient.type(key);
      if (type === 'hash') parts.push(JSON.stringify(await this.redisClient.hgetall(key)));
      else if (type === 'stream') parts.push(JSON.stringify(await this.redisClient.xrange(key, '-', '+')));
      else if (type === 'string') parts.push((await this.redisClient.get(key)) ?? '');
      else parts.push(`${key}: ${type}`);
    }
    return parts.join('\n');
  }

  /**
   * The recording's BullMQ job as Bull Board shows it, less its data (job data is stored as given,
   * token included, and shown redacted): its log, progress, result and failure.
   */
  async jobText(recordingId: string): Promise<string> {
    const job = `recfleet:${RECORDINGS_QUEUE}:${recordingId}`;
    const { data: _data, ...fields } = await this.redisClient.hgetall(job);
    const log = await this.redisClient.lrange(`${job}:logs`, 0, -1);
    return `${JSON.stringify(fields)}\n${log.join('\n')}`;
  }

  async stop(): Promise<void> {
    await this.client.close();
    this.redisClient.disconnect();
    for (const w of this.workers) await w.stop('SIGTERM', 5000);
    for (const p of this.publishers) await p.stop().catch(() => undefined);
    await this.server.stop();
    await this.redis.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
