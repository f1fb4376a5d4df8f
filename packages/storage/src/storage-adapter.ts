/** What a store says about an object it holds. */
export interface StoredObject {
  key: string;
  bytes: number;
  /** Hex MD5 of the content, when the store can tell (local disk always can). */
  md5?: string;
}

export interface PutBody {
  /** Read the content from this file... */
  filePath?: string;
  /** ...or take it from memory (playlists). */
  data?: Buffer;
  contentType: string;
}

export interface SignedUrlOptions {
  /** How long the URL stays valid, in whole seconds (1 to 604800: the longest S3 and OSS V4 accept). */
  expiresSeconds: number;
  /** When the lifetime starts (default now): lets a host with a known clock offset compensate. */
  signedAt?: Date;
}

/**
 * One small interface over every vendor. `put` resolves only once the store holds exactly the bytes
 * given (verified by size and MD5 where the store exposes it); anything else rejects with StorageError.
 */
export interface StorageAdapter {
  readonly kind: string;
  put(key: string, body: PutBody): Promise<StoredObject>;
  head(key: string): Promise<StoredObject | undefined>;
  list(prefix: string): Promise<StoredObject[]>;
  delete(key: string): Promise<void>;
  /**
   * Reads an object back (undefined when absent). Needed of a backup store, whose segments the drain
   * later copies to the primary.
   */
  get?(key: string): Promise<Buffer | undefined>;
  /** Where a person or player can read the object (a path for local disk, a URL for clouds). */
  locate(key: string): string;
  /**
   * A URL that reads (GET) the object straight from the store with no other credential, valid for
   * `expiresSeconds`: how a browser plays a private bucket without ever seeing a secret. Absent where a
   * store has no such URLs (local disk). Rejects with STORAGE_CONFIG_INVALID when the profile lacks what
   * the URL needs (a download domain) or the lifetime is out of range.
   */
  signedReadUrl?(key: string, options: SignedUrlOptions): Promise<string>;
}

export const StorageErrorCode = {
  STORAGE_WRITE_FAILED: 'STORAGE_WRITE_FAILED',
  STORAGE_INTEGRITY: 'STORAGE_INTEGRITY',
  STORAGE_PROFILE_UNKNOWN: 'STORAGE_PROFILE_UNKNOWN',
  STORAGE_CONFIG_INVALID: 'STORAGE_CONFIG_INVALID',
  /** The store rejected the credentials (unknown key, bad signature, access denied): never retried. */
  STORAGE_AUTH_FAILED: 'STORAGE_AUTH_FAILED',
  /** The configured bucket does not exist: a configuration mistake, never retried. */
  STORAGE_BUCKET_NOT_FOUND: 'STORAGE_BUCKET_NOT_FOUND',
  /** The store asked us to slow down (503 SlowDown, 429, Qiniu 573): retried with backoff. */
  STORAGE_THROTTLED: 'STORAGE_THROTTLED',
  /** No answer within the per-attempt timeout: retried. */
  STORAGE_TIMEOUT: 'STORAGE_TIMEOUT',
} as const;
export type StorageErrorCode = (typeof StorageErrorCode)[keyof typeof StorageErrorCode];

export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    /** Worth another attempt (timeouts, 5xx, integrity mismatches); false for the user's own mistakes. */
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StorageError';
  }
}
