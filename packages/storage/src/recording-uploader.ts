import { EventEmitter } from 'node:events';
import { rm } from 'node:fs/promises';
import {
  errorPolicy,
  uploadPercent,
  type RecfleetErrorCode,
  type RecordingOutcome,
} from '@recfleet/contract';
import type { RecordingObjectKeys } from './object-keys.js';
import { RecordingPlaylists, type PlaylistWrite } from './recording-playlists.js';
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
  /** The engine's sourceStartMs / sourceEndMs, kept in the index (IndexedSegment). */
  sourceStartMs?: number;
  sourceEndMs?: number;
  /** Where it ends on its recorder's timeline, kept in the index (IndexedSegment). */
  timelineEndSeconds?: number;
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
   * `uploaded`: every segment and the final playlists are in the primary store. `backed_up`: some segments
   * (listed in `backedUp`) are only in the backup store, or the final playlists could not be written yet:
   * the backup drain completes the delivery later. `failed`: segments are in neither store (`missing`;
   * their spool files are kept).
   */
  outcome: RecordingOutcome | 'failed';
  /** The complete playlist (see RecordingPlaylists; the live one is `livePlaylistKey`). */
  playlistKey: string;
  livePlaylistKey: string;
  /** Both final playlists are in the primary store. */
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
  /** Durable index of delivered segments; the playlists are always rendered from it (or a view of it). */
  index?: SegmentIndex;
  backup?: BackupPolicy;
  /** Host-wide bound on uploads in flight, shared by every recording's uploader. */
  slots?: UploadSlots;
  /** Limit of one put attempt; a slower one counts as failed (STORAGE_TIMEOUT) and is retried. */
  attemptTimeoutMs?: number;
  /** Keep a list of every playlist put (`playlistWrites`), for benchmarks and tests. */
  recordPlaylistWrites?: boolean;
}

export interface UploaderEvents {
  /** A segment is verified in the primary store and listed in its live playlist. */
  uploaded: [{ sequence: number; key: string; bytes: number; latencyMs: number }];
  /** A segment went to the backup store because the primary kept failing. */
  backed_up: [{ sequence: number; key: string; bytes: number; reason: string }];
  uploader_failure: [
    { sequence: number; code: RecfleetErrorCode; message: string; attempt: number; willRetry: boolean },
  ];
}

const PLAYLIST_SEQUENCE = -1;

/**
 * Delivers one recording's segments in order and keeps its playlists current in the primary store (see
 * RecordingPlaylists): after every verified segment the live playlist is rewritten, so the recording
 * plays live from storage, and the complete one follows on a schedule whose cost per segment does not
 * grow with the recording; both only ever list segments the durable index records as in that store.
 * When the primary keeps failing a segment goes to the backup store instead (nothing is lost; the drain
 * moves it later). A spool file is deleted only after its object was verified in primary or backup.
 */
export class RecordingUploader extends EventEmitter<UploaderEvents> {
  private readonly index: SegmentIndex;
  private readonly retry: RetryPolicy;
  private readonly slots: UploadSlots;
  private readonly attemptTimeoutMs: number;
  private readonly playlists: RecordingPlaylists;
  private readonly missing: number[] = [];
  private readonly backedUp: number[] = [];
  private chain: Promise<void> = Promise.resolve();
  /** Segments added and not yet through `deliver`. */
  private queued = 0;
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
    this.playlists = new RecordingPlaylists(store, keys, this.index, {
      slots: this.slots,
      timeoutMs: this.attemptTimeoutMs,
      recordWrites: options.recordPlaylistWrites ?? false,
    });
  }

  /** Every playlist put so far, when `recordPlaylistWrites` is set. */
  get playlistWrites(): readonly PlaylistWrite[] {
    return this.playlists.writes ?? [];
  }

  add(segment: SpooledSegment): void {
    this.progressState.segmentsTotal += 1;
    this.progressState.bytesTotal += segment.bytes;
    const closedAt = Date.now();
    this.queued += 1;
    this.chain = this.chain.then(() => this.deliver(segment, closedAt)).finally(() => (this.queued -= 1));
  }

  progress(): UploadProgress {
    const p = this.progressState;
    return { ...p, percent: uploadPercent(p.bytesUploaded, p.bytesTotal) };
  }

  /**
   * Waits for every added segment, then writes both playlists to the primary: the final ones (with
   * ENDLIST) by default; without ENDLIST when the recording goes on elsewhere (`endList: false`, a
   * hand-off); not at all when another worker owns the recording (`writePlaylist: false`).
   */
  async finish(options: { endList?: boolean; writePlaylist?: boolean } = {}): Promise<UploadOutcome> {
    await this.chain;
    let playlistWritten = false;
    if (options.writePlaylist === false) {
      // Not this writer's playlists to finish, but the segments it delivered late must be listed (from
      // the whole index, which is safe for any writer, fenced or not).
      await this.withRetry(PLAYLIST_SEQUENCE, this.retry.attempts, () => this.playlists.lateRebuild()).catch(
        (err: unknown) => (this.lastError = describeStorageFailure(err)),
      );
    }
    if (!this.fenced && options.writePlaylist !== false) {
      try {
        await this.withRetry(PLAYLIST_SEQUENCE, this.retry.attempts, () =>
          this.playlists.finish(options.endList ?? true),
        );
        playlistWritten = true;
      } catch (err) {
        this.lastError = describeStorageFailure(err);
      }
    }
    // An earlier owner of the recording (before a hand-off, a crash, a partition) may have put segments
    // in the backup: they are this recording's too, and the index the final playlists were rendered from
    // tells its last owner (no read of its own).
    const backedUp = new Set(this.backedUp);
    if (playlistWritten) for (const s of this.playlists.backedUpInIndex) backedUp.add(s);
    const outcome =
      this.missing.length > 0 || this.fenced
        ? 'failed'
        : backedUp.size > 0 || !playlistWritten
          ? 'backed_up'
          : 'uploaded';
    return {
      ...this.progress(),
      outcome,
      playlistKey: this.keys.playlistKey,
      livePlaylistKey: this.keys.livePlaylistKey,
      playlistWritten,
      backedUp: [...backedUp].sort((a, b) => a - b),
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
          await this.withRetry(segment.sequence, this.retry.attempts, () =>
            this.playlists.afterSegment(this.queued > 1),
          );
        } catch (err) {
          // The segment is safe in the primary; the playlists catch up with the next one or at finish.
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

  /** Indexed only once verified: a playlist never lists an object the store does not hold. */
  private async record(
    segment: SpooledSegment,
    location: IndexedSegment['location'],
    key: string,
    md5?: string,
  ): Promise<void> {
    const entry: IndexedSegment = {
      sequence: segment.sequence,
      durationSeconds: segment.durationSeconds,
      bytes: segment.bytes,
      discontinuity: segment.discontinuity,
      ...(segment.programDateTime !== undefined ? { programDateTime: segment.programDateTime } : {}),
      ...sourceSpanOf(segment),
      location,
      key,
      ...(md5 ? { md5 } : {}),
      at: Date.now(),
    };
    const receipt = await this.index.put(entry, await this.playlists.knownVersion());
    await this.playlists.recorded(entry, receipt);
  }

  private withRetry(sequence: number, attempts: number, op: () => Promise<void>): Promise<void> {
    return retryWrite(op, this.retry, attempts, (failure) =>
      this.emit('uploader_failure', { sequence, ...failure }),
    );
  }
}

/**
 * A segment's span on the source's clock, and where it ends on its recorder's timeline, as far as the
 * engine gave them (the index keeps both: a later owner continues from them).
 */
export function sourceSpanOf(s: {
  sourceStartMs?: number;
  sourceEndMs?: number;
  timelineEndSeconds?: number;
}): {
  sourceStartMs?: number;
  sourceEndMs?: number;
  timelineEndSeconds?: number;
} {
  return {
    ...(s.sourceStartMs !== undefined && s.sourceEndMs !== undefined
      ? { sourceStartMs: s.sourceStartMs, sourceEndMs: s.sourceEndMs }
      : {}),
    ...(s.timelineEndSeconds !== undefined ? { timelineEndSeconds: s.timelineEndSeconds } : {}),
  };
}
