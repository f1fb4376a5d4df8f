import {
  DEFAULT_KEY_PREFIX,
  RECORDINGS_QUEUE,
  recordingRedisKeys,
  recordingsIndexKey,
  type RecordingResult,
} from '@recfleet/contract';
import type { Redis } from 'ioredis';

/** A recording's progress, as the worker reports it (the job's progress) or as its result sums it up. */
export interface RecordingProgress {
  durationSeconds: number;
  segments: number;
  bytes: number;
  segmentsUploaded: number;
  /** 0–100: the share of recorded segments already verified in storage. */
  uploadPercent: number;
}

/** One recording as read from its durable record in Redis (never the job data: no token). */
export interface RecordingSummary {
  recordingId: string;
  state: string;
  appId?: string;
  channel?: string;
  uid?: number;
  createdAt?: number;
  updatedAt?: number;
  startedAt?: number;
  storageProfile?: string;
  storagePrefix?: string;
  /** Why it stopped (`requested`, `idle_timeout`, …) once it did. */
  reason?: string;
  errorCode?: string;
  errorMessage?: string;
  playlistKey?: string;
  /** Segments in the recording's durable segment index (reserved or delivered). */
  segmentsIndexed: number;
  progress?: RecordingProgress;
  result?: RecordingResult;
}

export interface ListFilter {
  state?: string;
  channel?: string;
  /** At most this many, newest first (default 50). */
  limit?: number;
}

export interface RecordingRecordsOptions {
  keyPrefix?: string;
  queueName?: string;
}

const NO_BRACES = /^[^{}]*$/;

/**
 * Reads recordings' durable records (`<prefix>:rec:{<id>}` hashes) and their jobs' progress. Lists from
 * the `<prefix>:recordings` sorted set when producers maintain it, and by SCAN otherwise.
 */
export class RecordingRecords {
  private readonly keyPrefix: string;
  private readonly queueName: string;

  constructor(
    private readonly redis: Redis,
    options: RecordingRecordsOptions = {},
  ) {
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.queueName = options.queueName ?? RECORDINGS_QUEUE;
  }

  async get(recordingId: string): Promise<RecordingSummary | undefined> {
    const [summary] = await this.read([recordingId]);
    return summary;
  }

  async list(filter: ListFilter = {}): Promise<RecordingSummary[]> {
    const limit = filter.limit ?? 50;
    const matches = (r: RecordingSummary): boolean =>
      (filter.state === undefined || r.state === filter.state) &&
      (filter.channel === undefined || r.channel === filter.channel);
    const indexKey = recordingsIndexKey(this.keyPrefix);
    if ((await this.redis.type(indexKey)) === 'zset') {
      const found: RecordingSummary[] = [];
      const page = Math.max(100, limit);
      for (let start = 0; found.length < limit; start += page) {
        const ids = await this.redis.zrevrange(indexKey, start, start + page - 1);
        if (ids.length === 0) break;
        for (const r of await this.read(ids)) if (matches(r)) found.push(r);
      }
      return found.slice(0, limit);
    }
    const ids = await this.scanIds();
    const all = (await this.read(ids)).filter(matches);
    all.sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0) || a.recordingId.localeCompare(b.recordingId));
    return all.slice(0, limit);
  }

  /** Whether any segment of the recording is verified in its primary store (so its playlist exists there). */
  async hasDeliveredSegment(recordingId: string): Promise<boolean> {
    const values = await this.redis.hvals(recordingRedisKeys(this.keyPrefix, recordingId).segments);
    return values.some((v) => v.includes('"location":"primary"'));
  }

  /** Every recording id with a record, by SCAN over `<prefix>:rec:{*}` (not the `:events`/`:segments` keys). */
  private async scanIds(): Promise<string[]> {
    const head = `${this.keyPrefix}:rec:{`;
    const ids = new Set<string>();
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${head}*}`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const id = key.slice(head.length, -1);
        if (key.startsWith(head) && key.endsWith('}') && NO_BRACES.test(id)) ids.add(id);
      }
    } while (cursor !== '0');
    return [...ids];
  }

  private async read(ids: readonly string[]): Promise<RecordingSummary[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) {
      pipeline.hgetall(recordingRedisKeys(this.keyPrefix, id).record);
      pipeline.hget(`${this.keyPrefix}:${this.queueName}:${id}`, 'progress');
      pipeline.hlen(recordingRedisKeys(this.keyPrefix, id).segments);
    }
    const replies = (await pipeline.exec()) ?? [];
    const out: RecordingSummary[] = [];
    ids.forEach((id, i) => {
      const [recordErr, fields] = replies[3 * i] ?? [];
      const [, progress] = replies[3 * i + 1] ?? [];
      const [, indexed] = replies[3 * i + 2] ?? [];
      if (recordErr) throw recordErr;
      const record = fields as Record<string, string> | null;
      if (!record || Object.keys(record).length === 0) return;
      const summary = toSummary(id, record, typeof progress === 'string' ? progress : null);
      summary.segmentsIndexed = typeof indexed === 'number' ? indexed : 0;
      out.push(summary);
    });
    return out;
  }
}

function num(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

function toSummary(id: string, f: Record<string, string>, progressJson: string | null): RecordingSummary {
  const s: RecordingSummary = {
    recordingId: f.recordingId || id,
    state: f.state || 'unknown',
    segmentsIndexed: 0,
  };
  if (f.appId) s.appId = f.appId;
  if (f.channel) s.channel = f.channel;
  const uid = num(f.uid);
  if (uid !== undefined) s.uid = uid;
  const createdAt = num(f.createdAt);
  if (createdAt !== undefined) s.createdAt = createdAt;
  const updatedAt = num(f.updatedAt);
  if (updatedAt !== undefined) s.updatedAt = updatedAt;
  const startedAt = num(f.startedAt);
  if (startedAt !== undefined) s.startedAt = startedAt;
  if (f.storageProfile) s.storageProfile = f.storageProfile;
  if (f.storagePrefix) s.storagePrefix = f.storagePrefix;
  if (f.reason) s.reason = f.reason;
  if (f.errorCode) s.errorCode = f.errorCode;
  if (f.errorMessage) s.errorMessage = f.errorMessage;
  if (f.playlistKey) s.playlistKey = f.playlistKey;
  if (f.result) {
    try {
      s.result = JSON.parse(f.result) as RecordingResult;
    } catch {
      // A malformed result is left out rather than failing the whole listing.
    }
  }
  const progress = parseProgress(progressJson);
  if (progress) s.progress = progress;
  else if (s.result) {
    s.progress = {
      durationSeconds: s.result.durationSeconds,
      segments: s.result.segments,
      bytes: s.result.bytes,
      segmentsUploaded: s.result.outcome === 'uploaded' ? s.result.segments : 0,
      uploadPercent: s.result.outcome === 'uploaded' ? 100 : 0,
    };
  }
  return s;
}

export function parseProgress(json: string | null | undefined): RecordingProgress | undefined {
  if (!json) return undefined;
  try {
    return asProgress(JSON.parse(json));
  } catch {
    return undefined;
  }
}

/** The worker's progress object, or undefined for anything else (BullMQ's default progress is 0). */
export function asProgress(value: unknown): RecordingProgress | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const n = (k: string): number => (typeof v[k] === 'number' ? (v[k] as number) : 0);
  if (typeof v.segments !== 'number' && typeof v.durationSeconds !== 'number') return undefined;
  return {
    durationSeconds: n('durationSeconds'),
    segments: n('segments'),
    bytes: n('bytes'),
    segmentsUploaded: n('segmentsUploaded'),
    uploadPercent: n('uploadPercent'),
  };
}
