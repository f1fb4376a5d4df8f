import { EventEmitter } from 'node:events';
import { rm } from 'node:fs/promises';
import type { RecordingKeys } from './object-keys.js';
import { renderPlaylist } from './playlist.js';
import { backoffDelay, DEFAULT_RETRY, sleep, type RetryPolicy } from './retry.js';
import { FencedError, MemorySegmentIndex, type SegmentIndex } from './segment-index.js';
import { StorageError, type StorageAdapter } from './storage-adapter.js';

export interface SpooledSegment {
  sequence: number;
  /** The finished segment file in the worker's spool; deleted once verified in storage. */
  filePath: string;
  durationSeconds: number;
  bytes: number;
  discontinuity: boolean;
}

export interface UploadProgress {
  segmentsTotal: number;
  segmentsUploaded: number;
  bytesTotal: number;
  bytesUploaded: number;
  /** 0–100; 100 when nothing is pending (including before the first segment). */
  percent: number;
}

export interface UploadOutcome extends UploadProgress {
  outcome: 'uploaded' | 'failed';
  playlistKey: string;
  /** Sequences that are not in storage (their spool files were kept). */
  missing: number[];
  error?: { code: string; message: string };
}

export interface RecordingUploaderOptions {
  retry?: RetryPolicy;
  /** Durable index of delivered segments; the playlist is always rendered from it. */
  index?: SegmentIndex;
}

export interface UploaderEvents {
  uploaded: [{ sequence: number; key: string; bytes: number; latencyMs: number }];
  uploader_failure: [
    { sequence: number; code: string; message: string; attempt: number; willRetry: boolean },
  ];
}

/**
 * Delivers one recording's segments to its store in order, one at a time, and keeps the playlist there
 * current: after every verified segment the EVENT playlist is rewritten, so the recording plays live
 * from storage and the playlist only ever lists objects the store really holds. A spool file is
 * deleted only after its object was verified.
 */
export class RecordingUploader extends EventEmitter<UploaderEvents> {
  private readonly index: SegmentIndex;
  private readonly retry: RetryPolicy;
  private readonly missing: number[] = [];
  private chain: Promise<void> = Promise.resolve();
  private progressState = { segmentsTotal: 0, segmentsUploaded: 0, bytesTotal: 0, bytesUploaded: 0 };
  private lastError: { code: string; message: string } | undefined;

  constructor(
    private readonly store: StorageAdapter,
    private readonly keys: RecordingKeys,
    options: RecordingUploaderOptions = {},
  ) {
    super();
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.index = options.index ?? new MemorySegmentIndex();
  }

  add(segment: SpooledSegment): void {
    this.progressState.segmentsTotal += 1;
    this.progressState.bytesTotal += segment.bytes;
    this.chain = this.chain.then(() => this.deliver(segment));
  }

  progress(): UploadProgress {
    const p = this.progressState;
    const percent = p.bytesTotal === 0 ? 100 : Math.floor((p.bytesUploaded / p.bytesTotal) * 1000) / 10;
    return { ...p, percent };
  }

  /** Waits for every added segment, then writes the final playlist (with ENDLIST). */
  async finish(): Promise<UploadOutcome> {
    await this.chain;
    {
      await this.withRetry(-1, () => this.writePlaylist(true)).catch((err: unknown) => {
        this.lastError = describe(err);
      });
    }
    const failed = this.missing.length > 0 || this.lastError !== undefined;
    return {
      ...this.progress(),
      outcome: failed ? 'failed' : 'uploaded',
      playlistKey: this.keys.playlistKey,
      missing: [...this.missing],
      ...(this.lastError ? { error: this.lastError } : {}),
    };
  }

  private async deliver(segment: SpooledSegment): Promise<void> {
    const started = Date.now();
    const key = this.keys.segmentKey(segment.sequence);
    try {
      let md5: string | undefined;
      await this.withRetry(segment.sequence, async () => {
        const stored = await this.store.put(key, { filePath: segment.filePath, contentType: 'video/mp2t' });
        if (stored.bytes !== segment.bytes) {
          throw new StorageError(
            'STORAGE_INTEGRITY',
            `${key}: stored ${stored.bytes} bytes of ${segment.bytes}`,
            true,
          );
        }
        md5 = stored.md5;
      });
      // Indexed only once verified: the playlist never lists an object the store does not hold.
      await this.index.put({
        sequence: segment.sequence,
        durationSeconds: segment.durationSeconds,
        bytes: segment.bytes,
        discontinuity: segment.discontinuity,
        location: 'primary',
        key,
        ...(md5 ? { md5 } : {}),
        at: Date.now(),
      });
      await this.withRetry(segment.sequence, () => this.writePlaylist(false));
      this.progressState.segmentsUploaded += 1;
      this.progressState.bytesUploaded += segment.bytes;
      await rm(segment.filePath, { force: true });
      this.emit('uploaded', {
        sequence: segment.sequence,
        key,
        bytes: segment.bytes,
        latencyMs: Date.now() - started,
      });
    } catch (err) {
      this.missing.push(segment.sequence);
      this.lastError = describe(err);
    }
  }

  private async writePlaylist(ended: boolean): Promise<void> {
    const delivered = (await this.index.list()).filter((s) => s.location === 'primary');
    const text = renderPlaylist(
      delivered.map((s) => ({
        sequence: s.sequence,
        uri: this.keys.segmentName(s.sequence),
        durationSeconds: s.durationSeconds,
        discontinuity: s.discontinuity,
      })),
      { ended },
    );
    await this.store.put(this.keys.playlistKey, {
      data: Buffer.from(text, 'utf8'),
      contentType: 'application/vnd.apple.mpegurl',
    });
  }

  private async withRetry(sequence: number, op: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await op();
        return;
      } catch (err) {
        const { code, message } = describe(err);
        // A fenced write will never succeed: another worker owns the recording now.
        const retryable =
          err instanceof FencedError ? false : err instanceof StorageError ? err.retryable : true;
        const willRetry = retryable && attempt < this.retry.attempts;
        this.emit('uploader_failure', { sequence, code, message, attempt, willRetry });
        if (!willRetry) throw err;
        await sleep(backoffDelay(attempt, this.retry));
      }
    }
  }
}

function describe(err: unknown): { code: string; message: string } {
  if (err instanceof StorageError || err instanceof FencedError)
    return { code: err.code, message: err.message };
  return { code: 'STORAGE_WRITE_FAILED', message: err instanceof Error ? err.message : String(err) };
}
