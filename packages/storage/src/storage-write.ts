import { errorCodeOf, errorPolicy, type RecfleetErrorCode } from '@recfleet/contract';
import { backoffDelay, sleep, type RetryPolicy } from './retry.js';
import { StorageError, type PutBody, type StorageAdapter, type StoredObject } from './storage-adapter.js';
import { withTimeout, type UploadSlots } from './upload-slots.js';

/*
 * How every writer of a recording's objects (segments, playlists, the channel manifest) puts them: one
 * attempt bounded in time and by the host's upload slots, attempts retried as the failure's code says.
 */

/** Why a storage operation failed, by its code in the contract's registry. */
export interface StorageFailure {
  code: RecfleetErrorCode;
  message: string;
}

/** One failed attempt of a write, as writers report it. */
export interface WriteAttemptFailure extends StorageFailure {
  attempt: number;
  willRetry: boolean;
}

/**
 * The registry code and message of a failed storage operation: a StorageError's or FencedError's own
 * code; anything else (a socket error an SDK let through) counts as STORAGE_WRITE_FAILED, a transient
 * failure worth another attempt.
 */
export function describeStorageFailure(err: unknown): StorageFailure {
  return {
    code: errorCodeOf(err, 'STORAGE_WRITE_FAILED'),
    message: err instanceof Error ? err.message : String(err),
  };
}

/** One put, in an upload slot when given, failing with STORAGE_TIMEOUT after `timeoutMs`. */
export function putWithin(
  store: StorageAdapter,
  key: string,
  body: PutBody,
  timeoutMs: number,
  slots?: UploadSlots,
): Promise<StoredObject> {
  const put = (): Promise<StoredObject> =>
    withTimeout(
      store.put(key, body),
      timeoutMs,
      () => new StorageError('STORAGE_TIMEOUT', `${store.kind} put ${key}: no answer within ${timeoutMs} ms`),
    );
  return slots ? slots.run(put) : put();
}

/**
 * Runs `op` until it succeeds, with backoff between attempts, reporting each failed one. The code's
 * category decides whether another attempt is worth it: a refused credential or a fenced write (another
 * worker owns the recording now) will never succeed, a timeout or a 5xx may. Rejects with the last error.
 */
export async function retryWrite(
  op: () => Promise<unknown>,
  policy: RetryPolicy,
  attempts: number,
  onFailure: (failure: WriteAttemptFailure) => void,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await op();
      return;
    } catch (err) {
      const { code, message } = describeStorageFailure(err);
      const willRetry = errorPolicy(code).retry && attempt < attempts;
      onFailure({ code, message, attempt, willRetry });
      if (!willRetry) throw err;
      await sleep(backoffDelay(attempt, policy));
    }
  }
}
