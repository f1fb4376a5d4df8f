import { type EXIT_CODES, RecfleetError, type RecfleetErrorCode } from '@recfleet/contract';
import {
  fieldProblemsOf,
  NotAChannelRecordingError,
  RecordingEndedError,
  RecordingNotFoundError,
} from '@recfleet/client';

/**
 * What each exit code of `recfleet` means, for its help and README; keyed by the contract's EXIT_CODES,
 * so a code added there needs its line here.
 */
export const EXIT_CODE_MEANINGS: Readonly<Record<keyof typeof EXIT_CODES, string>> = {
  OK: 'ok (watch: the recording was uploaded)',
  FAILED: 'the recording failed, or an unexpected error',
  USAGE: 'usage or validation error (every bad field is printed)',
  BACKED_UP: 'the recording ended backed_up (segments in the backup store)',
  NOT_FOUND: 'no recording with that id',
  UNAVAILABLE: 'Redis (with --api-url: the API) is not reachable or did not answer in time',
  CONFLICT: 'the recording has already ended: nothing to stop, cancel or update',
  UNAUTHENTICATED: 'the API refused the API key (--api-url)',
};

/**
 * An error the CLI reports as one or more lines on stderr. Its exit code is its code's category's (the
 * contract's ERROR_CATEGORIES): a usage error 2, an unknown recording 4, Redis unavailable 5, …
 */
export class CliError extends RecfleetError {
  constructor(
    code: RecfleetErrorCode,
    message: string,
    /** Extra lines (one per bad field), printed after the message. */
    readonly details: readonly string[] = [],
    /** Machine-readable details for `--json`. */
    readonly data: Record<string, unknown> = {},
  ) {
    super(code, message);
    this.name = 'CliError';
  }
}

export function usageError(message: string): CliError {
  return new CliError('USAGE', message);
}

/** Any error as the CLI reports it: registry errors keep their code (and so their exit code). */
export function asCliError(e: unknown): CliError {
  if (e instanceof CliError) return e;
  if (e instanceof RecfleetError) {
    const problems = fieldProblemsOf(e);
    const data: Record<string, unknown> = problems ? { problems } : {};
    if (
      e instanceof RecordingNotFoundError ||
      e instanceof RecordingEndedError ||
      e instanceof NotAChannelRecordingError
    ) {
      data.recordingId = e.recordingId;
    }
    if (e instanceof RecordingEndedError) data.state = e.state;
    return new CliError(e.code, e.message, problems?.map((p) => `invalid ${p.field}: ${p.rule}`) ?? [], data);
  }
  return new CliError('INTERNAL', e instanceof Error ? e.message.split('\n')[0]! : String(e));
}
