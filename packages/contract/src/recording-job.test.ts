import { describe, expect, it } from 'vitest';
import { channelNameProblem } from './channel.js';
import { formatFailure, parseFailure } from './error-registry.js';
import { InvalidRecordingJobError, parseRecordingJob } from './recording-job.js';

const valid = {
  recordingId: 'rec-1',
  appId: 'app1',
  channel: 'room 1',
  uid: 1,
  storage: { profile: 'local' },
};

function problems(data: unknown): string[] {
  try {
    parseRecordingJob(data);
  } catch (err) {
    if (err instanceof InvalidRecordingJobError) return err.problems.map((p) => p.field);
    throw err;
  }
  return [];
}

describe('recording job contract', () => {
  it('applies the documented defaults', () => {
    const job = parseRecordingJob(valid);
    expect(job.recordingConfig).toEqual({
      mode: 'individual',
      segmentSeconds: 10,
      maxIdleSeconds: 30,
      streamTypes: 'both',
    });
  });

  it.each([
    ['channel', { channel: 'a/b' }],
    ['channel', { channel: '' }],
    ['channel', { channel: 'x'.repeat(65) }],
    ['channel', { channel: 'café' }],
    ['uid', { uid: 0 }],
    ['uid', { uid: 2 ** 32 }],
    ['uid', { uid: 1.5 }],
    ['appId', { appId: '' }],
    ['recordingId', { recordingId: '../x' }],
    ['storage.profile', { storage: { profile: 'Has Space' } }],
    ['storage.prefix', { storage: { profile: 'local', prefix: '../escape' } }],
    ['storage.prefix', { storage: { profile: 'local', prefix: '/abs' } }],
    ['storage.prefix', { storage: { profile: 'local', prefix: 'a/./b' } }],
    ['sourceUrl', { sourceUrl: 'gopher://x' }],
    ['recordingConfig.segmentSeconds', { recordingConfig: { segmentSeconds: 61 } }],
    ['recordingConfig.maxIdleSeconds', { recordingConfig: { maxIdleSeconds: 4 } }],
    ['recordingConfig.streamTypes', { recordingConfig: { streamTypes: 'data' } }],
    ['storageCredentials', { storageCredentials: { secret: 'x' } }],
  ])('refuses a bad %s', (field, patch) => {
    expect(problems({ ...valid, ...patch })).toEqual([field]);
  });

  it('accepts every punctuation mark the reference service allows in a channel', () => {
    expect(channelNameProblem('!#$%&()+-:;<=.>?@[]^_{}|~, azAZ09')).toBeUndefined();
    expect(channelNameProblem('x'.repeat(64))).toBeUndefined();
  });

  it('carries the error code through a failed job reason', () => {
    expect(parseFailure(formatFailure('DISK_FULL', 'no space left'))).toEqual({
      code: 'DISK_FULL',
      message: 'no space left',
    });
    expect(parseFailure('TypeError: boom').code).toBe('INTERNAL');
  });
});
