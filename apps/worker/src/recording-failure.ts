import { errorCodeOf, formatFailure, redactText, type RecfleetErrorCode } from '@recfleet/contract';
import { UnrecoverableError } from 'bullmq';

/**
 * Fails a job for good with a stable code. BullMQ keeps only the message as `failedReason`, so the code
 * travels inside it as `[CODE] message` (see parseFailure in the contract), and on the record as
 * `errorCode`.
 */
export class RecordingFailedError extends UnrecoverableError {
  constructor(
    readonly code: RecfleetErrorCode,
    readonly detail: string,
  ) {
    super(formatFailure(code, detail));
    this.name = 'RecordingFailedError';
  }
}

/**
 * Any error as a job failure: the registry code it carries (a StorageError's, a RecorderError's, …),
 * else INTERNAL. The message is persisted (record, failedReason), so URLs in it lose their credentials:
 * an option check may quote the source URL it refused.
 */
export function asRecordingFailure(err: unknown): RecordingFailedError {
  if (err instanceof RecordingFailedError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new RecordingFailedError(errorCodeOf(err), redactText(message));
}
