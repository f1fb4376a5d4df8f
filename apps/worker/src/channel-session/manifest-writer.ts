/** Keeps a channel recording's manifest object current in the primary store. */
import { RecfleetError, type ChannelManifest } from '@recfleet/contract';
import { ChannelManifestWriter, type StorageAdapter, type UploadSlots } from '@recfleet/storage';

/** Writes a manifest as the recording goes (coalesced) and once at the end (awaited). */
export interface ManifestWriter {
  /** The newest manifest; written soon, at most one write in flight (a newer one replaces a waiting one). */
  update(manifest: ChannelManifest): void;
  /** Writes the final manifest after any write in flight; rejects when the store does not take it. */
  finish(manifest: ChannelManifest): Promise<void>;
}

/** Makes a recording's manifest writer; `onWritten` is called whenever a manifest reached the store. */
export type ManifestWriterFactory = (
  store: StorageAdapter,
  key: string,
  onWritten?: () => void,
) => ManifestWriter;

/**
 * The storage package's ChannelManifestWriter behind the session's interface: updates after the final
 * manifest are dropped (a late join must not overwrite it), and a final manifest the store did not take
 * rejects with the store's own code.
 */
export function channelManifestWriter(
  store: StorageAdapter,
  key: string,
  options: { slots?: UploadSlots; attemptTimeoutMs?: number; onWritten?: () => void } = {},
): ManifestWriter {
  const { onWritten, ...writerOptions } = options;
  const writer = new ChannelManifestWriter(store, key, writerOptions);
  if (onWritten) writer.on('written', () => onWritten());
  let finished = false;
  return {
    update(manifest) {
      if (!finished) writer.update(manifest);
    },
    async finish(manifest) {
      finished = true;
      const outcome = await writer.finish(manifest);
      if (!outcome.written) {
        throw new RecfleetError(
          outcome.error?.code ?? 'STORAGE_WRITE_FAILED',
          outcome.error?.message ?? `${key}: the manifest was not written`,
        );
      }
    },
  };
}
