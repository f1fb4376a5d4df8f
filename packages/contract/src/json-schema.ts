import { z } from 'zod';
import { RecordingJobSchema, StartRecordingRequestSchema } from './recording-job.js';

/** Where the job contract's JSON Schema is published (its `$id`). */
export const RECORDING_JOB_SCHEMA_ID = 'https://recfleet.dev/schema/recording-job.schema.json';

/**
 * The job contract as JSON Schema (draft 2020-12), generated from the zod schema: what a producer in
 * any language may put in a job's data. Defaults are shown, not required. Rules that JSON Schema cannot
 * express exactly (the channel's 64-*byte* limit) are approximated by a pattern.
 */
export function recordingJobJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(RecordingJobSchema, { io: 'input', unrepresentable: 'any' });
  return {
    $schema: schema.$schema,
    $id: RECORDING_JOB_SCHEMA_ID,
    title: 'recfleet recording job',
    description:
      'Data of a BullMQ job named "record" on queue "recfleet-recordings" (job id = recordingId). Unknown fields are refused.',
    ...withoutKey(schema, '$schema'),
  };
}

/** The body of a start request (`POST /v1/recordings`): the job contract, recordingId optional. */
export function startRecordingRequestJsonSchema(): Record<string, unknown> {
  return withoutKey(
    z.toJSONSchema(StartRecordingRequestSchema, { io: 'input', unrepresentable: 'any' }),
    '$schema',
  );
}

function withoutKey(o: object, key: string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => k !== key));
}
