import { MAX_DURATION_SECONDS_RULE } from '@recfleet/contract';
import { LAST_SEQUENCE } from '@recfleet/storage';

/**
 * The longest recording, 7 days: the largest maxDurationSeconds the contract accepts, and the limit of
 * a job that sets none. Reaching it ends the recording as maxDurationSeconds does (stop reason
 * `max_duration`, outcome `uploaded`), over the whole recording however often it was resumed. Its
 * sequence numbers stay within SEQUENCE_DIGITS (LAST_SEQUENCE): 604,800 segments at the shortest
 * segments (1 s), and recorderDurationLimit keeps even a track of many short segments within them.
 */
export const LONGEST_RECORDING_SECONDS = MAX_DURATION_SECONDS_RULE.max;

/** How long a recording may last: the job's maxDurationSeconds, or the longest recording. */
export function recordingDurationLimit(maxDurationSeconds: number | undefined): number {
  return Math.min(maxDurationSeconds ?? LONGEST_RECORDING_SECONDS, LONGEST_RECORDING_SECONDS);
}

/**
 * The maxDurationSeconds of a recorder that continues a recording which holds `recordedSeconds` already
 * (earlier owners' segments): what is left of the limit. At least 1 s, the contract's minimum, so a
 * recording resumed at its limit ends after one more segment.
 */
export function remainingDuration(maxDurationSeconds: number | undefined, recordedSeconds: number): number {
  const left = Math.floor(recordingDurationLimit(maxDurationSeconds) - recordedSeconds);
  return Math.max(MAX_DURATION_SECONDS_RULE.min, left);
}

/**
 * At most the media that the sequence numbers left in a track can hold. Every segment but a recorder's
 * last lasts at least `segmentSeconds` (cuts fall on the first keyframe after it), so a recorder that
 * starts at `startSequence` and stops at this limit numbers no segment past LAST_SEQUENCE.
 */
export function recorderDurationLimit(
  maxDurationSeconds: number | undefined,
  startSequence: number,
  segmentSeconds: number,
): number | undefined {
  const room = Math.floor((LAST_SEQUENCE - startSequence) * segmentSeconds);
  if (room >= (maxDurationSeconds ?? LONGEST_RECORDING_SECONDS)) return maxDurationSeconds;
  return Math.max(MAX_DURATION_SECONDS_RULE.min, room);
}
