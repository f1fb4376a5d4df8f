import { formatFailure, RecfleetErrorCode, type RecfleetErrorCode as Code } from '@recfleet/contract';
import { UnrecoverableError } from 'bullmq';

/**
 * Fails a job for good with a stable code. BullMQ keeps only the message as `failedReason`, so the code
 * travels inside it as `[CODE] message` (see parseFailure in the contract), and on the record as
 * `errorCode`.
 */
export class RecordingFailedError extends UnrecoverableError {
  constructor(
    readonly code: Code,
    readonly detail: string,
  ) {
    super(formatFailure(code, detail));
    this.name = 'RecordingFailedError';
  }
}

export function asRecordingFailure(err: unknown): RecordingFailedError {
  if (err instanceof RecordingFailedError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const code =
    typeof e?.code === 'string' && (Object.values(RecfleetErrorCode) as string[]).includes(e.code)
      ? (e.code as Code)
      : RecfleetErrorCode.INTERNAL;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return new RecordingFailedError(code, message);
}
