import type { StorageAdapter } from '@recfleet/storage';

/**
 * A test's own read of an object: s3rver on a loaded 2-core host drops a connection now and then
 * (seen: "socket hang up" in suite runs), which says nothing about what the store holds. Only the
 * reader retries; what is read is still whatever the store has.
 */
export async function getWithRetry(
  store: Required<Pick<StorageAdapter, 'get'>>,
  key: string,
): Promise<Buffer | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await store.get(key);
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}
