import { RECORDING_ID_PATTERN } from '@recfleet/contract';
import { RecordingNotFoundError } from '@recfleet/client';

/** A path's recording id; one that cannot be a recording id names no recording (404). */
export function recordingIdParam(id: string): string {
  if (!RECORDING_ID_PATTERN.test(id)) throw new RecordingNotFoundError(id);
  return id;
}
