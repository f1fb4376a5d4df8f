// Shared by this package's session tests (excluded from the build): scripted recorders that write real
// segment files, a scripted channel directory, and a testbed with a private redis-server and real BullMQ.
import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { RECORD_JOB_NAME, recordingRedisKeys, type RecordingResult } from '@recfleet/contract';
import { RedisServer } from '@recfleet/embedded';
import type { RecorderEvents, RecorderStartOptions, RecorderState } from '@recfleet/engine-binding';
import { UploadSlots, type PutBody, type StorageAdapter, type StoredObject } from '@recfleet/storage';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import type {
  ChannelDirectory,
  ChannelDirectoryEvents,
  ChannelMembership,
  ChannelUser,
} from './channel-session/channel-directory.js';
import { OUTAGE_GAP_MS } from './fleet-clock.js';
import { createLogger } from './logger.js';
import { RecordingOwnership, type OwnershipRules } from './recording-ownership.js';
import { RecordingRecord } from './recording-record.js';
import type { SessionRecorder } from './recording-track.js';
import type { SessionLifecycle } from './session-lifecycle.js';

export const SEGMENT_BYTES = 1000;

/** A private redis-server for the test file (started before its tests, stopped after), and a client. */
export function usePrivateRedis(): { readonly redis: Redis } {
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  beforeAll(async () => {
    server = await RedisServer.start();
    redis = new Redis(server.url, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });
  return {
    get redis(): Redis {
      if (!redis) throw new Error('the private Redis starts in beforeAll');
      return redis;
    },
  };
}

/** A logger whose lines (pino JSON, each after `prefix`) are pushed to `lines`. */
export function linesLogger(lines: string[], prefix = '', level: 'debug' | 'info' = 'info'): Logger {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(`${prefix}${chunk.toString()}`);
      done();
    },
  });
  return createLogger(level, sink);
}

/** Ownership rules for tests: quick heartbeats, a quick takeover, no grace after outages. */
export const TEST_OWNERSHIP = {
  heartbeatMs: 100,
  takeoverAfterMs: 500,
  graceAfterResumeMs: 0,
  outageGapMs: OUTAGE_GAP_MS,
} as const satisfies Omit<OwnershipRules, 'identity' | 'host'>;

/** An ownership of `record` for the worker `identity` (host: the part before its last `:`). */
export function testOwnership(
  record: RecordingRecord,
  identity: string,
  log: Logger = createLogger('silent'),
  rules: Partial<OwnershipRules> = {},
): RecordingOwnership {
  const host = identity.slice(0, identity.lastIndexOf(':')) || identity;
  return new RecordingOwnership(record, { ...TEST_OWNERSHIP, identity, host, ...rules }, log);
}

/**
 * Claims a recording for `identity` whatever its owner's heartbeat says (as after its crash): every write
 * of the earlier owner is refused from then on. Returns the new epoch.
 */
export async function takeOver(
  redis: Redis,
  prefix: string,
  recordingId: string,
  identity: string,
): Promise<number> {
  const outcome = await new RecordingRecord(redis, prefix, recordingId).claim({
    identity,
    host: identity,
    takeoverAfterMs: 0,
    graceAfterResumeMs: 0,
    outageGapMs: OUTAGE_GAP_MS,
  });
  if (outcome.type !== 'claimed') throw new Error(`not claimed: ${JSON.stringify(outcome)}`);
  return outcome.epoch;
}

/** How a scripted recording goes: it joins, then writes a segment every `segmentMs`. */
export interface Script {
  /** Ends by itself after this many segments (default: runs until stopped or released). */
  segments?: number;
  /** How it ends by itself (default `stopped` with `source_ended`). */
  end?:
    | { type: 'stopped'; reason: 'source_ended' | 'max_duration' | 'idle_timeout' }
    | { type: 'fatal_error'; code: 'NO_MEDIA' | 'DISK_FULL' };
  segmentMs?: number;
}

type ScriptedEnd =
  | { type: 'stopped'; reason: 'requested' | 'cancelled' | 'source_ended' | 'max_duration' | 'idle_timeout' }
  | { type: 'fatal_error'; code: 'NO_MEDIA' | 'DISK_FULL' };

/**
 * The engine's Recorder as a session sees it: `stop` finishes the segment being written and then
 * emits `stopped` (`requested`); `release({ cancel: true })` abandons it (`cancelled`). Each segment
 * carries the program date time of its start, as the engine's do.
 */
export class ScriptedRecorder extends EventEmitter<RecorderEvents> implements SessionRecorder {
  state: RecorderState = 'idle';
  options: RecorderStartOptions | undefined;
  /** Sequence numbers of the segments it wrote. */
  readonly sequences: number[] = [];
  /** How it ended, once it has. */
  endedWith: ScriptedEnd | undefined;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private sequence = 0;
  private finished: Promise<void> | undefined;
  private frozen = false;

  constructor(private readonly script: Script = {}) {
    super();
  }

  start(options: RecorderStartOptions): void {
    this.options = options;
    this.sequence = options.startSequence ?? 0;
    this.state = 'running';
    setImmediate(() => {
      if (this.state !== 'running') return;
      const at = Date.now();
      const { recordingId, sourceUrl } = options;
      this.emit('joined', { type: 'joined', recordingId, sourceUrl, rejoin: false, at });
      this.emit('started', { type: 'started', recordingId, streams: [], at });
      this.timer = setInterval(() => {
        this.writing = this.writing.then(() => this.writeSegment());
      }, this.script.segmentMs ?? 40);
    });
  }

  /** The process died: nothing more is written or emitted, ever. */
  kill(): void {
    this.frozen = true;
    clearInterval(this.timer);
  }

  private async writeSegment(): Promise<void> {
    if (this.state !== 'running' || this.frozen) return;
    const o = this.options!;
    const sequence = this.sequence++;
    const path = join(o.outputDir, `${o.recordingId}_${String(sequence).padStart(6, '0')}.ts`);
    await writeFile(path, Buffer.alloc(SEGMENT_BYTES, sequence % 256));
    if (this.frozen) return;
    this.sequences.push(sequence);
    this.emit('segment', {
      type: 'segment',
      recordingId: o.recordingId,
      sequence,
      path,
      durationSeconds: 1,
      bytes: SEGMENT_BYTES,
      startPtsSeconds: sequence + 1,
      startsWithKeyframe: true,
      discontinuity: sequence === (o.startSequence ?? 0) && o.discontinuity === true,
      programDateTimeMs: Date.now() - (this.script.segmentMs ?? 40),
    } as RecorderEvents['segment'][0]);
    if (this.script.segments !== undefined && this.sequences.length >= this.script.segments) {
      this.end(this.script.end ?? { type: 'stopped', reason: 'source_ended' });
    }
  }

  /** `force`: a release, which ends even a killed recorder (whose process a test cannot really end). */
  private end(e: ScriptedEnd, force = false): void {
    if (this.state === 'ended' || this.state === 'released' || (this.frozen && !force)) return;
    clearInterval(this.timer);
    this.state = 'ended';
    this.endedWith = e;
    const recordingId = this.options!.recordingId;
    if (e.type === 'stopped') {
      const written = this.sequences.length;
      this.emit('stopped', {
        type: 'stopped',
        recordingId,
        reason: e.reason,
        segments: written,
        durationSeconds: written,
        sourceReached: true,
      });
    } else {
      this.emit('fatal_error', {
        type: 'fatal_error',
        recordingId,
        code: e.code,
        message: 'no stream selected',
      });
    }
  }

  stop(): Promise<unknown> {
    if (this.state === 'running') {
      this.state = 'stopping';
      clearInterval(this.timer);
      // The segment being written is finished, then the recording ends.
      this.finished ??= this.writing.then(async () => {
        this.state = 'running';
        await this.writeSegment();
        this.end({ type: 'stopped', reason: 'requested' });
      });
    }
    return this.finished ?? Promise.resolve();
  }

  async release(options: { cancel?: boolean } = {}): Promise<void> {
    if (this.state === 'running' || this.state === 'stopping') {
      if (options.cancel) {
        clearInterval(this.timer);
        await this.writing;
        this.end({ type: 'stopped', reason: 'cancelled' }, true);
      } else await this.stop();
    }
    this.state = 'released';
  }
}

class ScriptedMembership extends EventEmitter<ChannelDirectoryEvents> implements ChannelMembership {
  closed = false;

  constructor(
    private readonly directory: ScriptedDirectory,
    private readonly token: string | undefined,
  ) {
    super();
  }

  users(): ChannelUser[] {
    return [...this.directory.present.values()];
  }

  sourceUrl(uid: number): string {
    if (this.directory.sourceUrlError) throw this.directory.sourceUrlError;
    return `rtmp://scripted/app/room_u${uid}?sign=${this.token ?? ''}`;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.directory.memberships.delete(this);
  }
}

/**
 * A channel directory the test drives: users publish, change what they publish and leave when the
 * test says so, and every membership hears it at once.
 */
export class ScriptedDirectory implements ChannelDirectory {
  readonly kind = 'scripted';
  readonly present = new Map<number, ChannelUser>();
  readonly memberships = new Set<ScriptedMembership>();
  readonly joins: { appId: string; channel: string; recorderUid: number; token: string | undefined }[] = [];
  /** The next join rejects with this. */
  joinError: Error | undefined;
  /** Memberships refuse users' URLs with this (a token expired since the join). */
  sourceUrlError: Error | undefined;

  async join(request: {
    appId: string;
    channel: string;
    recorderUid: number;
    token: string | undefined;
  }): Promise<ChannelMembership> {
    this.joins.push(request);
    if (this.joinError) throw this.joinError;
    const m = new ScriptedMembership(this, request.token);
    this.memberships.add(m);
    return m;
  }

  publish(uid: number, streams: { audio: boolean; video: boolean } = { audio: true, video: true }): void {
    const user = { uid, ...streams, since: Date.now() };
    const known = this.present.has(uid);
    this.present.set(uid, user);
    for (const m of this.memberships) m.emit(known ? 'user_changed' : 'user_joined', user);
  }

  leave(uid: number): void {
    if (!this.present.delete(uid)) return;
    for (const m of this.memberships) m.emit('user_left', { uid, at: Date.now() });
  }
}

/** `store` with its puts going through `put` (a store that refuses, or answers late). */
export function storeWithPut(
  store: StorageAdapter,
  put: (key: string, body: PutBody) => Promise<StoredObject>,
): StorageAdapter {
  return {
    kind: `${store.kind}+put`,
    head: (key) => store.head(key),
    list: (prefix) => store.list(prefix),
    delete: (key) => store.delete(key),
    locate: (key) => store.locate(key),
    put,
  };
}

export interface RecordedEvent {
  type: string;
  at: number;
  data: Record<string, unknown>;
}

/** One recording job run through a real BullMQ worker, each run of the job by a new session. */
export interface TestRun<S extends SessionLifecycle> {
  sessions: S[];
  /** What each run of the job ended with: a result, or the error the session threw. */
  outcomes: Promise<RecordingResult | Error>[];
  record: RecordingRecord;
  job(): Promise<Job>;
  logs: string[];
  close(): Promise<void>;
}

/** What a testbed's session factory is given for one run of a job. */
export interface RunContext {
  job: Job;
  token: string | undefined;
  record: RecordingRecord;
  /** The run's ownership, as the worker `test:<attempt>`. */
  ownership: RecordingOwnership;
  /** 0 for the job's first run, 1 after a hand-off, … */
  attempt: number;
  log: Logger;
  slots: UploadSlots;
}

/** A private redis-server and a scratch folder, with readers of what recordings leave in Redis. */
export class SessionTestbed {
  readonly slots = new UploadSlots(4);
  private readonly runs: { close(): Promise<void> }[] = [];

  private constructor(
    private readonly server: RedisServer,
    readonly redis: Redis,
    readonly dir: string,
    readonly prefix: string,
  ) {}

  static async start(prefix: string): Promise<SessionTestbed> {
    const server = await RedisServer.start();
    const redis = new Redis(server.url, { maxRetriesPerRequest: null });
    const dir = await mkdtemp(join(tmpdir(), `recfleet-${prefix}-`));
    return new SessionTestbed(server, redis, dir, prefix);
  }

  get url(): string {
    return this.server.url;
  }

  get storeRoot(): string {
    return join(this.dir, 'store');
  }

  get spoolDir(): string {
    return join(this.dir, 'spool');
  }

  /**
   * Adds a recording job (`data` over a minimal valid job) to its own queue, and runs it with a real
   * BullMQ worker whose processor is the session `makeSession` returns; `expectedRuns` outcomes are
   * awaited (a handed-off job runs again).
   */
  async run<S extends SessionLifecycle>(
    recordingId: string,
    data: Record<string, unknown>,
    makeSession: (c: RunContext) => S,
    expectedRuns = 1,
  ): Promise<TestRun<S>> {
    const queueName = `q-${recordingId}`;
    const connection = { url: this.server.url, maxRetriesPerRequest: null };
    const queue = new Queue(queueName, { connection, prefix: this.prefix });
    const record = new RecordingRecord(this.redis, this.prefix, recordingId);
    const logs: string[] = [];
    const log = linesLogger(logs, '', 'debug').child({ recordingId });
    const settled: ((v: RecordingResult | Error) => void)[] = [];
    const outcomes: Promise<RecordingResult | Error>[] = [];
    for (let i = 0; i < expectedRuns; i++) outcomes.push(new Promise((resolve) => settled.push(resolve)));
    const sessions: S[] = [];
    const worker = new Worker(
      queueName,
      async (job, token) => {
        const attempt = sessions.length;
        const ownership = testOwnership(record, `test:${attempt}`, log);
        const session = makeSession({ job, token, record, ownership, attempt, log, slots: this.slots });
        sessions.push(session);
        try {
          const result = await session.run();
          settled[attempt]?.(result);
          return result;
        } catch (err) {
          settled[attempt]?.(err as Error);
          throw err;
        }
      },
      { connection, prefix: this.prefix, lockDuration: 10_000 },
    );
    const run: TestRun<S> = {
      sessions,
      outcomes,
      record,
      logs,
      job: async () => (await queue.getJob(recordingId))!,
      close: async () => {
        await worker.close();
        await queue.close();
      },
    };
    this.runs.push(run);
    await queue.add(
      RECORD_JOB_NAME,
      {
        recordingId,
        appId: 'app',
        channel: 'room',
        uid: 1,
        recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 5 },
        storage: { profile: 'local' },
        ...data,
      },
      { jobId: recordingId },
    );
    return run;
  }

  async events(recordingId: string): Promise<RecordedEvent[]> {
    const entries = await this.redis.xrange(recordingRedisKeys(this.prefix, recordingId).events, '-', '+');
    return entries.map(([, f]) => ({
      type: f[f.indexOf('type') + 1]!,
      at: Number(f[f.indexOf('at') + 1]),
      data: JSON.parse(f[f.indexOf('data') + 1]!) as Record<string, unknown>,
    }));
  }

  async eventTypes(recordingId: string): Promise<string[]> {
    return (await this.events(recordingId)).map((e) => e.type);
  }

  async recordFields(recordingId: string): Promise<Record<string, string>> {
    return this.redis.hgetall(recordingRedisKeys(this.prefix, recordingId).record);
  }

  async stop(): Promise<void> {
    for (const run of this.runs) await run.close();
    this.redis.disconnect();
    await this.server.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
