import {
  type ControlRequest,
  type FieldProblem,
  InvalidRecordingJobError,
  RecfleetError,
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

/** A stop or cancel of a recording that has already ended: the API's 409, the CLI's exit code 6. */
export class RecordingEndedError extends RecfleetError {
  declare readonly code: 'RECORDING_ENDED';
  constructor(
    readonly recordingId: string,
    readonly state: RecordingState,
    readonly request: ControlRequest,
  ) {
    super(
      'RECORDING_ENDED',
      `recording ${recordingId} has already ended (state ${state}); there is nothing to ${request}`,
    );
    this.name = 'RecordingEndedError';
  }
}

/** The refused fields an error names, for the API's `errors` and the CLI's lines. */
export function fieldProblemsOf(err: unknown): FieldProblem[] | undefined {
  return err instanceof InvalidRecordingJobError || err instanceof InvalidListFilterError
    ? err.problems
    : undefined;
}
