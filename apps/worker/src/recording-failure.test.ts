import { parseFailure } from '@recfleet/contract';
import { StorageError } from '@recfleet/storage';
import { describe, expect, it } from 'vitest';
import { asRecordingFailure } from './recording-failure.js';

describe('recording failures', () => {
  it('keep the registry code an error carries, and INTERNAL for any other error', () => {
    const auth = asRecordingFailure(
      new StorageError('STORAGE_AUTH_FAILED', 'oss put k: SignatureDoesNotMatch'),
    );
    expect(auth.code).toBe('STORAGE_AUTH_FAILED');
    expect(parseFailure(auth.message)).toEqual({
      code: 'STORAGE_AUTH_FAILED',
      message: 'oss put k: SignatureDoesNotMatch',
    });
    expect(asRecordingFailure(new TypeError('x is undefined')).code).toBe('INTERNAL');
    expect(asRecordingFailure(Object.assign(new Error('gone'), { code: 'ENOENT' })).code).toBe('INTERNAL');
  });

  it('hide credentials of URLs quoted in the message (an option check quoting the source URL)', () => {
    const failure = asRecordingFailure(
      Object.assign(new Error('Expected a URL for sourceUrl but received "rtsp://user:hunter2@cam/x"'), {
        code: 'INVALID_OPTION',
      }),
    );
    expect(failure.code).toBe('INVALID_OPTION');
    expect(failure.message).not.toContain('hunter2');
    expect(failure.detail).toContain('rtsp://[redacted]@cam/x');
  });
});
