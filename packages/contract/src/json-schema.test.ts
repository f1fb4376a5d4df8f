import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { describe, expect, it } from 'vitest';
import { channelManifestJsonSchema } from './channel-manifest.js';
import { recordingJobJsonSchema, startRecordingRequestJsonSchema } from './json-schema.js';
import { InvalidRecordingJobError, parseRecordingJob, parseStartRecordingRequest } from './recording-job.js';

const committed = fileURLToPath(new URL('../schema/recording-job.schema.json', import.meta.url));

function fields(parse: () => unknown): string[] {
  try {
    parse();
  } catch (err) {
    if (err instanceof InvalidRecordingJobError) return err.problems.map((p) => p.field);
    throw err;
  }
  return [];
}

describe('JSON Schema of the job contract', () => {
  it('the committed schema file is the one generated from the zod schema (npm run -w @recfleet/contract schema)', async () => {
    const options = (await resolveConfig(committed)) ?? {};
    const generated = await format(JSON.stringify(recordingJobJsonSchema(), null, 2), {
      ...options,
      parser: 'json',
    });
    expect(await readFile(committed, 'utf8')).toBe(generated);
  });

  it('the committed channel manifest schema is the one generated from its zod schema', async () => {
    const file = fileURLToPath(new URL('../schema/channel-manifest.schema.json', import.meta.url));
    const options = (await resolveConfig(file)) ?? {};
    const generated = await format(JSON.stringify(channelManifestJsonSchema(), null, 2), {
      ...options,
      parser: 'json',
    });
    expect(await readFile(file, 'utf8')).toBe(generated);
  });

  it('lists every field and refuses unknown ones', () => {
    const schema = recordingJobJsonSchema() as {
      properties: Record<string, unknown>;
      additionalProperties: boolean;
    };
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['recordingId', 'appId', 'channel', 'uid', 'storage', 'callbackUrl']),
    );
    expect(schema.additionalProperties).toBe(false);
    const request = startRecordingRequestJsonSchema() as { required: string[]; properties: object };
    expect(request.required).not.toContain('recordingId');
    expect(Object.keys(request.properties)).not.toContain('requestedAt');
  });
});

describe('callbackUrl and start requests', () => {
  const valid = { recordingId: 'r1', appId: 'a', channel: 'c', uid: 1, storage: { profile: 'local' } };

  it('accepts http and https callback URLs', () => {
    expect(parseRecordingJob({ ...valid, callbackUrl: 'https://example.com/hook?x=1' }).callbackUrl).toBe(
      'https://example.com/hook?x=1',
    );
    expect(fields(() => parseRecordingJob({ ...valid, callbackUrl: 'http://127.0.0.1:8080/' }))).toEqual([]);
  });

  it.each([
    'ftp://example.com/x',
    'example.com/hook',
    'javascript:alert(1)',
    `https://example.com/${'x'.repeat(2048)}`,
  ])('refuses the callback URL %s', (callbackUrl) => {
    expect(fields(() => parseRecordingJob({ ...valid, callbackUrl }))).toEqual(['callbackUrl']);
  });

  it('names an unknown nested field by its full path', () => {
    expect(fields(() => parseRecordingJob({ ...valid, recordingConfig: { segmentSecs: 3 } }))).toEqual([
      'recordingConfig.segmentSecs',
    ]);
    expect(fields(() => parseRecordingJob({ ...valid, a: 1, b: 2 }))).toEqual(['a', 'b']);
  });

  it('a start request may omit the recording id but not carry requestedAt', () => {
    const { recordingId: _omit, ...withoutId } = valid;
    expect(fields(() => parseStartRecordingRequest(withoutId))).toEqual([]);
    expect(fields(() => parseStartRecordingRequest({ ...valid, requestedAt: 1 }))).toEqual(['requestedAt']);
  });
});
