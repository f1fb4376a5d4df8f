import { EventEmitter } from 'node:events';
import { rm } from 'node:fs/promises';
import {
  errorPolicy,
  uploadPercent,
  type RecfleetErrorCode,
  type RecordingOutcome,
} from '@recfleet/contract';
import type { RecordingObjectKeys } from './object-keys.js';
import { renderPlaylist } from './playlist.js';
import { backoffDelay, DEFAULT_RETRY, sleep, type RetryPolicy } from './retry.js';
import { FencedError, MemorySegmentIndex, type IndexedSegment, type SegmentIndex } from './segment-index.js';
import { StorageError, type StorageAdapter } from './storage-adapter.js';
import { describeStorageFailure, putWithin, retryWrite, type StorageFailure } from './storage-write.js';
import { UploadSlots } from './upload-slots.js';

export { describeStorageFailure, type StorageFailure };

export interface SpooledSegment {
  sequence: number;
  /** The finished segment file in the worker's spool; deleted once verified in primary or backup. */
  filePath: string;
  durationSeconds: number;
  bytes: number;
  discontinuity: boolean;
  /** The engine's programDateTimeMs: written to the playlist as EXT-X-PROGRAM-DATE-TIME. */
  programDateTime?: number;
}

export interface UploadProgress {
  segmentsTotal: number;
  segmentsUploaded: number;
  segmentsBackedUp: number;
  bytesTotal: number;
  bytesUploaded: number;
  /** 0–100 of the recorded bytes verified in the primary store (the contract's uploadPercent: 0 before the first segment). */
  percent: number;
}

export interface UploadOutcome extends UploadProgress {
  /**
   * `uploaded`: every segment and the final playlist are in the primary store. `backed_up`: some segments
   * (listed in `backedUp`) are only in the backup store, or the final playlist could not be written yet:
   * the backup drain completes the delivery later. `failed`: segments are in neither store (`missing`;
   * their spool files are kept).
   */
  outcome: RecordingOutcome | 'failed';
  playlistKey: string;
  playlistWritten: boolean;
  backedUp: number[];
  missing: number[];
  error?: StorageFailure;
}

/** When the primary counts as failing, and where segments go then. */
export interface BackupPolicy {
  store: StorageAdapter;
  /** Give up on the primary for a segment after this many attempts… */
  afterAttempts: number;
  /** …or once this many seconds have passed since the segment closed, whichever comes first. */
  afterSeconds: number;
}

export interface RecordingUploaderOptions {
  retry?: RetryPolicy;
  /** Durable index of delivered segments; the playlist is always rendered from it. */
  index?: SegmentIndex;
  backup?: BackupPolicy;
  /** Host-wide bound on uploads in flight, shared by every recording's uploader. */
  slots?: UploadSlots;
  /** Limit of one put attempt; a slower one counts as failed (STORAGE_TIMEOUT) and is retried. */
  attemptTimeoutMs?: number;
}

export interface UploaderEvents {
  /** A segment is verified in the primary store and listed in its playlist. */
  uploaded: [{ sequence: number; key: string; bytes: number; latencyMs: number }];
  /** A segment went to the backup store because the primary kept failing. */
  backed_up: [{ sequence: number; key: string; bytes: number; reason: string }];
  uploader_failure: [
    { sequence: number; code: RecfleetErrorCode; message: string; attempt: number; willRetry: boolean },
  ];
}

const PLAYLIST_SEQUENCE = -1;

/**
 * Delivers one recording's segments in order and keeps its playlist current in the primary store:
 * after every verified segment the EVENT playlist is rewritten, so the recording plays live from
 * storage, and it only ever lists segments the durable index records as in that store. When the
 * primary keeps failing a segment goes to the backup store instead (nothing is lost; the drain moves
 * it later). A spool file is deleted only after its object was verified in primary or backup.
 */
export class RecordingUploader extends EventEmitter<UploaderEvents> {
  private readonly index: SegmentIndex;
  private readonly retry: RetryPolicy;
  private readonly slots: UploadSlots;
  private readonly attemptTimeoutMs: number;
  private readonly missing: number[] = [];
  private readonly backedUp: number[] = [];
  private chain: Promise<void> = Promise.resolve();
  private progressState = {
    segmentsTotal: 0,
    segmentsUploaded: 0,
    segmentsBackedUp: 0,
    bytesTotal: 0,
    bytesUploaded: 0,
  };
  private lastError: StorageFailure | undefined;
  private fenced = false;

  constructor(
    private readonly store: StorageAdapter,
    private readonly keys: RecordingObjectKeys,
    private readonly options: RecordingUploaderOptions = {},
  ) {
    super();
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.index = options.index ?? new MemorySegmentIndex();
    this.slots = options.slots ?? new UploadSlots(4);
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 60_000;
  }

  add(segment: SpooledSegment): void {
    this.progressState.segmentsTotal += 1;
    this.progressState.bytesTotal += segment.bytes;
    const closedAt = Date.now();
    this.chain = this.chain.then(() => this.deliver(segment, closedAt));
  }

  progress(): UploadProgress {
    const p = this.progressState;
    return { ...p, percent: uploadPercent(p.bytesUploaded, p.bytesTotal) };
  }

  /**
   * Waits for every added segment, then writes the playlist to the primary: the final one (with
   * ENDLIST) by default; without ENDLIST when the recording goes on elsewhere (`endList: false`, a
   * hand-off); not at all when another worker owns the recording (`writePlaylist: false`).
   */
  async finish(options: { endList?: boolean; writePlaylist?: boolean } = {}): Promise<UploadOutcome> {
    await this.chain;
    let playlistWritten = false;
    if (!this.fenced && options.writePlaylist !== false) {
      try {
        await this.withRetry(PLAYLIST_SEQUENCE, this.retry.attempts, () =>
          this.writePlaylist(options.endList ?? true),
        );
        playlistWritten = true;
      } catch (err) {
        this.lastError = describeStorageFailure(err);
      }
    }
    const outcome =
      this.missing.length > 0 || this.fenced
        ? 'failed'
        : this.backedUp.length > 0 || !playlistWritten
          ? 'backed_up'
          : 'uploaded';
    return {
      ...this.progress(),
      outcome,
      playlistKey: this.keys.playlistKey,
      playlistWritten,
      backedUp: [...this.backedUp],
      missing: [...this.missing],
      ...(this.lastError ? { error: this.lastError } : {}),
    };
  }

  private async deliver(segment: SpooledSegment, closedAt: number): Promise<void> {
    if (this.fenced) {
      this.missing.push(segment.sequence);
      return;
    }
    const key = this.keys.segmentKey(segment.sequence);
    const backup = this.options.backup;
    try {
      const primary = await this.putVerified(this.store, key, segment, closedAt, backup);
      if (primary) {
        await this.record(segment, 'primary', key, primary.md5);
        try {
          await this.withRetry(segment.sequence, this.retry.attempts, () => this.writePlaylist(false));
        } catch (err) {
          // The segment is safe in the primary; the playlist catches up with the next one or at finish.
          this.lastError = describeStorageFailure(err);
        }
        this.progressState.segmentsUploaded += 1;
        this.progressState.bytesUploaded += segment.bytes;
        await rm(segment.filePath, { force: true });
        this.emit('uploaded', {
          sequence: segment.sequence,
          key,
          bytes: segment.bytes,
          latencyMs: Date.now() - closedAt,
        });
        return;
      }
      if (!backup) {
        this.giveUp(segment, `${key}: the primary store kept failing`);
        return;
      }
      const stored = await this.putVerified(backup.store, key, segment, Date.now(), undefined);
      if (!stored) {
        this.giveUp(segment, `${key}: neither the primary nor the backup store took it`);
        return;
      }
      await this.record(segment, 'backup', key, stored.md5);
      this.backedUp.push(segment.sequence);
      this.progressState.segmentsBackedUp += 1;
      await rm(segment.filePath, { force: true });
      this.emit('backed_up', {
        sequence: segment.sequence,
        key,
        bytes: segment.bytes,
        reason: this.lastError?.message ?? 'the primary store kept failing',
      });
    } catch (err) {
      if (err instanceof FencedError) this.fenced = true;
      this.missing.push(segment.sequence);
      this.lastError = describeStorageFailure(err);
    }
  }

  /**
   * A segment no store took stays in the spool. The recording's failure keeps the code of the store's
   * last refusal (STORAGE_AUTH_FAILED, STORAGE_REFUSED, …): that is what the operator has to fix.
   */
  private giveUp(segment: SpooledSegment, what: string): void {
    this.missing.push(segment.sequence);
    this.lastError = {
      code: this.lastError?.code ?? 'STORAGE_WRITE_FAILED',
      message: this.lastError ? `${what}: ${this.lastError.message}` : what,
    };
  }

  /**
   * Puts and verifies one segment, retrying with backoff. With a backup policy, gives up (returns
   * undefined) after its attempts or seconds so the segment can go to the backup instead.
   */
  private async putVerified(
    store: StorageAdapter,
    key: string,
    segment: SpooledSegment,
    since: number,
    giveUp: BackupPolicy | undefined,
  ): Promise<{ md5?: string } | undefined> {
    const maxAttempts = giveUp ? giveUp.afterAttempts : this.retry.attempts;
    for (let attempt = 1; ; attempt++) {
      try {
        const stored = await putWithin(
          store,
          key,
          { filePath: segment.filePath, contentType: 'video/mp2t' },
          this.attemptTimeoutMs,
          this.slots,
        );
        if (stored.bytes !== segment.bytes) {
          throw new StorageError(
            'STORAGE_INTEGRITY',
            `${key}: stored ${stored.bytes} bytes of ${segment.bytes}`,
          );
        }
        return stored.md5 ? { md5: stored.md5 } : {};
      } catch (err) {
        const { code, message } = describeStorageFailure(err);
        this.lastError = { code, message };
        const outOfTime = giveUp !== undefined && Date.now() - since >= giveUp.afterSeconds * 1000;
        const willRetry = errorPolicy(code).retry && attempt < maxAttempts && !outOfTime;
        this.emit('uploader_failure', { sequence: segment.sequence, code, message, attempt, willRetry });
        if (!willRetry) return undefined;
        await sleep(backoffDelay(attempt, this.retry));
      }
    }
  }

  /** Indexed only once verified: the playlist never lists an object the store does not hold. */
  private async record(
    segment: SpooledSegment,
    location: IndexedSegment['location'],
    key: string,
    md5?: string,
  ): Promise<void> {
    await this.index.put({
      sequence: segment.sequence,
      durationSeconds: segment.durationSeconds,
      bytes: segment.bytes,
      discontinuity: segment.discontinuity,
      ...(segment.programDateTime !== undefined ? { programDateTime: segment.programDateTime } : {}),
      location,
      key,
      ...(md5 ? { md5 } : {}),
      at: Date.now(),
    });
  }

  private async writePlaylist(ended: boolean): Promise<void> {
    if (ended) await this.index.markEnded?.();
    await writePlaylist(this.store, this.keys, this.index, ended, this.slots, this.attemptTimeoutMs);
  }

  private withRetry(sequence: number, attempts: number, op: () => Promise<void>): Promise<void> {
    return retryWrite(op, this.retry, attempts, (failure) =>
      this.emit('uploader_failure', { sequence, ...failure }),
    );
  }
}

/** How many times a playlist writer re-renders when the index moved under its write. */
const PLAYLIST_SETTLE_ROUNDS = 5;

/**
 * Renders the playlist of the segments indexed as in the primary store and puts it there, until what
 * it put matches the index read after the put. Several writers may put one recording's playlist at once
 * — the owner, a fenced predecessor delivering its reserved segments late, spool recovery, the drain —
 * and stores have no compare-and-set common to all vendors; a put that landed over a newer one is
 * caught by the re-read and rewritten, so the last put to land always renders the latest index (and
 * keeps ENDLIST once the recording has ended, see SegmentIndex.ended).
 */
export async function writePlaylist(
  store: StorageAdapter,
  keys: RecordingObjectKeys,
  index: SegmentIndex,
  ended: boolean,
  slots?: UploadSlots,
  timeoutMs = 60_000,
): Promise<void> {
  const render = async (): Promise<string> =>
    renderPlaylistText(keys, await index.list(), ended || ((await index.ended?.()) ?? false));
  let text = await render();
  for (let round = 1; ; round++) {
    await putPlaylist(store, keys, text, slots, timeoutMs);
    const now = await render();
    if (now === text || round >= PLAYLIST_SETTLE_ROUNDS) return;
    text = now;
  }
}

function renderPlaylistText(
  keys: RecordingObjectKeys,
  indexed: readonly IndexedSegment[],
  ended: boolean,
): string {
  return renderPlaylist(
    indexed
      .filter((s) => s.location === 'primary')
      .map((s) => ({
        sequence: s.sequence,
        uri: keys.segmentName(s.sequence),
        durationSeconds: s.durationSeconds,
        discontinuity: s.discontinuity,
        ...(s.programDateTime !== undefined ? { programDateTime: s.programDateTime } : {}),
      })),
    { ended },
  );
}

async function putPlaylist(
  store: StorageAdapter,
  keys: RecordingObjectKeys,
  text: string,
  slots: UploadSlots | undefined,
  timeoutMs: number,
): Promise<void> {
  await putWithin(
    store,
    keys.playlistKey,
    { data: Buffer.from(text, 'utf8'), contentType: 'application/vnd.apple.mpegurl' },
    timeoutMs,
    slots,
  );
}
