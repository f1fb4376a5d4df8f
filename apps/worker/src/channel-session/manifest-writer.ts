/**
 * Keeps a channel recording's manifest object current in the primary store.
 *
 * Interim implementation: `@recfleet/storage`'s ChannelManifestWriter (the same ManifestWriter
 * interface) replaces ObjectManifestWriter; the session only knows the interface.
 */
import { errorPolicy, type ChannelManifest } from '@recfleet/contract';
import {
  backoffDelay,
  DEFAULT_RETRY,
  describeStorageFailure,
  sleep,
  StorageError,
  withTimeout,
  type StorageAdapter,
  type UploadSlots,
} from '@recfleet/storage';

/** Writes a manifest as the recording goes (coalesced) and once at the end (awaited). */
export interface ManifestWriter {
  /** The newest manifest; written soon, at most one write in flight (a newer one replaces a waiting one). */
  update(manifest: ChannelManifest): void;
  /** Writes the final manifest after any write in flight; rejects when the store does not take it. */
  finish(manifest: ChannelManifest): Promise<void>;
}

export type ManifestWriterFactory = (store: StorageAdapter, key: string) => ManifestWriter;

export class ObjectManifestWriter implements ManifestWriter {
  private pending: ChannelManifest | undefined;
  private inFlight: Promise<void> | undefined;
  /** Once the final manifest is being written, no running one may land over it. */
  private finished = false;

  constructor(
    private readonly store: StorageAdapter,
    private readonly key: string,
    private readonly options: { slots?: UploadSlots; attemptTimeoutMs?: number } = {},
  ) {}

  update(manifest: ChannelManifest): void {
    if (this.finished) return;
    this.pending = manifest;
    this.inFlight ??= this.drain();
  }

  async finish(manifest: ChannelManifest): Promise<void> {
    this.finished = true;
    this.pending = undefined;
    await this.inFlight;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.put(manifest);
        return;
      } catch (err) {
        if (!errorPolicy(describeStorageFailure(err).code).retry || attempt >= DEFAULT_RETRY.attempts)
          throw err;
        await sleep(backoffDelay(attempt, DEFAULT_RETRY));
      }
    }
  }

  private async drain(): Promise<void> {
    while (this.pending) {
      const manifest = this.pending;
      this.pending = undefined;
      // A manifest written while recording is caught up by the next change or the final one.
      await this.put(manifest).catch(() => undefined);
    }
    this.inFlight = undefined;
  }

  private async put(manifest: ChannelManifest): Promise<void> {
    const timeoutMs = this.options.attemptTimeoutMs ?? 60_000;
    const put = (): Promise<unknown> =>
      withTimeout(
        this.store.put(this.key, {
          data: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8'),
          contentType: 'application/json',
        }),
        timeoutMs,
        () =>
          new StorageError(
            'STORAGE_TIMEOUT',
            `${this.store.kind} put ${this.key}: no answer within ${timeoutMs} ms`,
          ),
      );
    await (this.options.slots ? this.options.slots.run(put) : put());
  }
}
