import { errorPolicy, type RecfleetErrorCode, type StorageErrorFlag } from '@recfleet/contract';

/** Retryable failures in a row, or seconds of them, after which a store counts as failing. */
export const STORAGE_FAILING_AFTER = { failures: 3, seconds: 10 } as const;

/**
 * Whether a recording's uploads keep failing, told as they happen rather than at the end: the store is
 * *failing* at its first refusal that no retry can fix (wrong credentials, a bucket that does not exist:
 * a non-retryable code), or after STORAGE_FAILING_AFTER retryable failures in a row or seconds of them;
 * the next upload that succeeds ends it. `changed` hears every change — a new flag, a new code, or
 * cleared (undefined, with the flag it was).
 */
export class StorageErrorWatch {
  private flag: StorageErrorFlag | undefined;
  private inARow = 0;
  private firstAt: number | undefined;

  constructor(
    private readonly changed: (
      flag: StorageErrorFlag | undefined,
      previous: StorageErrorFlag | undefined,
    ) => void,
  ) {}

  /** The flag while the store is failing. */
  get current(): StorageErrorFlag | undefined {
    return this.flag;
  }

  failed(failure: { code: RecfleetErrorCode; message: string }, now = Date.now()): void {
    this.inARow += 1;
    this.firstAt ??= now;
    const failing =
      !errorPolicy(failure.code).retry ||
      this.inARow >= STORAGE_FAILING_AFTER.failures ||
      now - this.firstAt >= STORAGE_FAILING_AFTER.seconds * 1000;
    if (!failing || this.flag?.code === failure.code) return;
    const previous = this.flag;
    this.flag = { code: failure.code, message: failure.message, since: previous?.since ?? this.firstAt };
    this.changed(this.flag, previous);
  }

  succeeded(): void {
    this.inARow = 0;
    this.firstAt = undefined;
    if (!this.flag) return;
    const previous = this.flag;
    this.flag = undefined;
    this.changed(undefined, previous);
  }
}
