import { StorageError, type SignedUrlOptions } from './storage-adapter.js';

/** The longest lifetime S3 (SigV4) and OSS (V4) accept for a presigned URL: 7 days. */
export const MAX_SIGNED_URL_SECONDS = 604_800;

/**
 * Checks a requested URL lifetime and returns its start and end. Every store gets the same bounds so a
 * profile can move between vendors without its URLs silently changing meaning.
 */
export function signedUrlWindow(options: SignedUrlOptions): {
  start: Date;
  seconds: number;
  deadline: number;
} {
  const seconds = options.expiresSeconds;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_SIGNED_URL_SECONDS) {
    throw new StorageError(
      'STORAGE_CONFIG_INVALID',
      `Expected an integer from 1 to ${MAX_SIGNED_URL_SECONDS} for expiresSeconds but received ${String(seconds)}`,
    );
  }
  const start = options.signedAt ?? new Date();
  return { start, seconds, deadline: Math.floor(start.getTime() / 1000) + seconds };
}
