import {
  type ControlRequest,
  type FieldProblem,
  InvalidRecordingJobError,
  RecfleetError,
  type RecordingKind,
  type RecordingState,
} from '@recfleet/contract';

/** No recording with that id (or the id cannot be one). */
export class RecordingNotFoundError extends RecfleetError {
  declare readonly code: 'RECORDING_NOT_FOUND';
  constructor(readonly recordingId: string) {
    super('RECORDING_NOT_FOUND', `no recording with id ${recordingId}`);
    this.name = 'RecordingNotFoundError';
  }
}

/** A list filter (state, limit, cursor…) that breaks its rule. */
export class InvalidListFilterError extends RecfleetError {
  declare readonly code: 'INVALID_FILTER';
  constructor(readonly problems: FieldProblem[]) {
    super('INVALID_FILTER', `invalid list filter: ${problems.map((p) => `${p.field} ${p.rule}`).join('; ')}`);
    this.name = 'InvalidListFilterError';
  }
}

/** What a producer asks of a running recording: stop or cancel it, or update its subscriptions. */
export type RecordingRequest = ControlRequest | 'update';

/** A stop, cancel or update of a recording that has already ended: the API's 409, the CLI's exit code 6. */
export class RecordingEndedError extends RecfleetError {
  declare readonly code: 'RECORDING_ENDED';
  constructor(
    readonly recordingId: string,
    readonly state: RecordingState,
    readonly request: RecordingRequest,
  ) {
    super(
      'RECORDING_ENDED',
      `recording ${recordingId} has already ended (state ${state}); there is nothing to ${request}`,
    );
    this.name = 'RecordingEndedError';
  }
}

/**
 * An update of a recording that records one stream (its job has a `sourceUrl`): it has no users to
 * subscribe to. Category invalid_argument: the API's 400, the CLI's exit code 2.
 */
export class NotAChannelRecordingError extends RecfleetError {
  declare readonly code: 'NOT_A_CHANNEL_RECORDING';
  constructor(
    readonly recordingId: string,
    readonly kind: RecordingKind | undefined,
  ) {
    super(
      'NOT_A_CHANNEL_RECORDING',
      kind === 'single_stream'
        ? `recording ${recordingId} records one stream (its job has a sourceUrl): it has no users to subscribe to`
        : `recording ${recordingId} is not known to be a channel recording (its job data is gone)`,
    );
    this.name = 'NotAChannelRecordingError';
  }
}

/** The refused fields an error names, for the API's `errors` and the CLI's lines. */
export function fieldProblemsOf(err: unknown): FieldProblem[] | undefined {
  return err instanceof InvalidRecordingJobError || err instanceof InvalidListFilterError
    ? err.problems
    : undefined;
}
