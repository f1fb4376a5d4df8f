import { EventEmitter } from 'node:events';
import { ChannelManifestSchema, RecfleetError, type ChannelManifest } from '@recfleet/contract';
import { DEFAULT_RETRY, type RetryPolicy } from './retry.js';
import type { StorageAdapter } from './storage-adapter.js';
import {
  describeStorageFailure,
  putWithin,
  retryWrite,
  type StorageFailure,
  type WriteAttemptFailure,
} from './storage-write.js';
import type { UploadSlots } from './upload-slots.js';

export interface ChannelManifestWriterOptions {
  /** As the recording's uploaders: attempts and backoff of each put. */
  retry?: RetryPolicy;
  /** The host-wide upload slots, shared with the recording's uploaders. */
  slots?: UploadSlots;
  /** Limit of one put attempt; a slower one counts as failed (STORAGE_TIMEOUT) and is retried. */
  attemptTimeoutMs?: number;
}

export interface ChannelManifestWriterEvents {
  /** A manifest is in the store (an older one that a newer replaced before its put is never written). */
  written: [{ key: string; ended: boolean; bytes: number }];
  /** One put attempt failed; `willRetry` says whether another comes (with the newest manifest). */
  manifest_failure: [{ key: string } & WriteAttemptFailure];
}

export interface ManifestWriteOutcome {
  key: string;
  /** The newest manifest given is in the store. */
  written: boolean;
  /** Why it is not, when it is not. */
  error?: StorageFailure;
}

/**
 * Keeps a channel recording's manifest current in its store while the recording goes: `update()` on
 * every join, leave or track change, `finish()` with the final one at the end. Writes are coalesced: at
 * most one put is in flight, a newer manifest replaces one still waiting (and is what a retry puts), so
 * a burst of joins costs a put or two, and what lands last is always the newest. Every manifest is
 * checked against the contract's ChannelManifestSchema first: one that breaks it is a bug of its
 * builder and is refused at once.
 */
export class ChannelManifestWriter extends EventEmitter<ChannelManifestWriterEvents> {
  private readonly retry: RetryPolicy;
  private readonly attemptTimeoutMs: number;
  /** The newest manifest not yet put. */
  private pending: { text: string; ended: boolean } | undefined;
  private running: Promise<void> | undefined;
  private outcome: ManifestWriteOutcome;
  private finished = false;

  constructor(
    private readonly store: StorageAdapter,
    /** Its object key: manifestObjectKey(recordingId, channel, prefix). */
    readonly key: string,
    private readonly options: ChannelManifestWriterOptions = {},
  ) {
    super();
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 60_000;
    this.outcome = { key, written: false };
  }

  /**
   * Schedules `manifest` to replace the stored one; returns at once. Throws RecfleetError INTERNAL
   * (naming the fields) for a manifest that breaks the schema, and after `finish()`.
   */
  update(manifest: ChannelManifest): void {
    if (this.finished) {
      throw new RecfleetError('INTERNAL', `${this.key}: the manifest was already finished`);
    }
    const parsed = ChannelManifestSchema.safeParse(manifest);
    if (!parsed.success) {
      const fields = parsed.error.issues.map((i) => `${i.path.join('.') || '(manifest)'}: ${i.message}`);
      throw new RecfleetError('INTERNAL', `${this.key}: not a channel manifest: ${fields.join('; ')}`);
    }
    this.pending = { text: `${JSON.stringify(parsed.data, null, 2)}\n`, ended: parsed.data.ended };
    this.running ??= this.drain();
  }

  /** Resolves once the newest manifest given is in the store, or its put has failed for good. */
  async flush(): Promise<ManifestWriteOutcome> {
    while (this.running) await this.running;
    return { ...this.outcome };
  }

  /** Writes the final manifest (`ended: true`) after every earlier one, and refuses updates after it. */
  finish(manifest: ChannelManifest): Promise<ManifestWriteOutcome> {
    this.update(manifest);
    this.finished = true;
    return this.flush();
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending) {
        let current = this.pending;
        this.pending = undefined;
        try {
          await retryWrite(
            () => {
              // A retry puts the newest manifest, not the one that failed.
              if (this.pending) [current, this.pending] = [this.pending, undefined];
              return putWithin(
                this.store,
                this.key,
                { data: Buffer.from(current.text, 'utf8'), contentType: 'application/json' },
                this.attemptTimeoutMs,
                this.options.slots,
              );
            },
            this.retry,
            this.retry.attempts,
            (failure) => this.emit('manifest_failure', { key: this.key, ...failure }),
          );
          this.outcome = { key: this.key, written: true };
          this.emit('written', {
            key: this.key,
            ended: current.ended,
            bytes: Buffer.byteLength(current.text),
          });
        } catch (err) {
          this.outcome = { key: this.key, written: false, error: describeStorageFailure(err) };
        }
      }
    } finally {
      this.running = undefined;
    }
  }
}
