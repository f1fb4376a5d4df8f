import { RecfleetError, type RecfleetErrorCode } from '@recfleet/contract';

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

/**
 * The registry's storage codes (`STORAGE_*` in the contract's ERROR_CODES): the only codes a store's
 * failure carries. Whether a failed attempt is worth another is the code's category's `retry`
 * (`storage_transient` yes; `storage` — the profile's own credentials, bucket or paths — no).
 */
export type StorageFailureCode = Extract<RecfleetErrorCode, `STORAGE_${string}`>;

/** A store's failure, with a storage code from the contract's registry. */
export class StorageError extends RecfleetError {
  declare readonly code: StorageFailureCode;

  constructor(code: StorageFailureCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'StorageError';
  }
}
