/** Exit codes of `recfleet`; scripts may rely on them. */
export const ExitCode = {
  /** The command did what was asked (for `watch`: the recording was uploaded). */
  OK: 0,
  /** The recording failed. */
  RECORDING_FAILED: 1,
  /** Bad command line or a request the job contract refuses (every bad field is printed). */
  USAGE: 2,
  /** The recording ended with segments only in the backup store (the drain will deliver them). */
  BACKED_UP: 3,
  /** No recording with that id. */
  NOT_FOUND: 4,
  /** Redis could not be reached. */
  REDIS_UNREACHABLE: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the CLI reports as one or more lines on stderr, and exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    readonly code: string,
    message: string,
    /** Extra lines (one per bad field), printed after the message. */
    readonly details: readonly string[] = [],
    /** Machine-readable details for `--json`. */
    readonly data: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export function usageError(message: string): CliError {
  return new CliError(ExitCode.USAGE, 'USAGE', message);
}
