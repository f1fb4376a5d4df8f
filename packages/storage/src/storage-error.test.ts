import { errorPolicy, RecfleetError } from '@recfleet/contract';
import { describe, expect, it } from 'vitest';
import { toOssStorageError } from './oss-storage.js';
import { QiniuHttpError, toQiniuStorageError } from './qiniu-storage.js';
import { describeStorageFailure } from './recording-uploader.js';
import { toStorageError } from './s3-storage.js';
import { FencedError } from './segment-index.js';
import { StorageError } from './storage-adapter.js';

/** An SDK failure as each vendor's client reports an HTTP answer. */
const answers = {
  s3: (status: number, name: string) =>
    toStorageError(
      Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } }),
      's3 put k',
    ),
  oss: (status: number, code: string) =>
    toOssStorageError(Object.assign(new Error(code), { name: 'OSSError', code, status }), 'oss put k'),
  qiniu: (status: number, error: string) =>
    toQiniuStorageError(new QiniuHttpError(status, error, `qiniu put k: HTTP ${status}`), 'qiniu put k'),
};

describe('storage errors', () => {
  it('are registry errors whose retry decision is their code category', () => {
    const refused = new StorageError('STORAGE_REFUSED', 'no');
    expect(refused).toBeInstanceOf(RecfleetError);
    expect(refused.category).toBe('storage');
    expect(refused.retryable).toBe(false);
    const timeout = new StorageError('STORAGE_TIMEOUT', 'slow');
    expect(timeout.category).toBe('storage_transient');
    expect(timeout.retryable).toBe(true);
    const fenced = new FencedError('epoch 1 no longer owns the recording');
    expect(fenced).toBeInstanceOf(RecfleetError);
    expect([fenced.code, fenced.retryable]).toEqual(['FENCED', false]);
  });

  it.each(Object.entries(answers))(
    '%s: a 4xx other than auth is STORAGE_REFUSED (not retried), a 5xx STORAGE_WRITE_FAILED (retried)',
    (_vendor, answer) => {
      const refused = answer(400, 'InvalidArgument');
      expect([refused.code, refused.retryable]).toEqual(['STORAGE_REFUSED', false]);
      const denied = answer(403, 'AccessDenied');
      expect([denied.code, denied.retryable]).toEqual(['STORAGE_AUTH_FAILED', false]);
      const broken = answer(500, 'InternalError');
      expect([broken.code, broken.retryable]).toEqual(['STORAGE_WRITE_FAILED', true]);
    },
  );

  it('describes any failure by a registry code: its own, or STORAGE_WRITE_FAILED for a bare error', () => {
    expect(describeStorageFailure(new StorageError('STORAGE_AUTH_FAILED', 'bad key'))).toEqual({
      code: 'STORAGE_AUTH_FAILED',
      message: 'bad key',
    });
    expect(describeStorageFailure(new FencedError('late')).code).toBe('FENCED');
    const socket = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const failure = describeStorageFailure(socket);
    expect(failure).toEqual({ code: 'STORAGE_WRITE_FAILED', message: 'socket hang up' });
    expect(errorPolicy(failure.code).retry).toBe(true);
  });
});
