import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
// @ts-expect-error s3rver ships no type declarations
import S3rver from 's3rver';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { S3Storage, StorageError, type S3StorageOptions } from '../../packages/storage/src/index.js';
import { startCorruptingProxy, type CorruptingProxy } from '../src/fakes/corrupting-proxy.js';

const MIB = 1024 * 1024;
let s3: { run(): Promise<{ port: number }>; close(): Promise<void> };
let endpoint: string;
let proxy: CorruptingProxy;
let dir: string;

function storage(overrides: Partial<S3StorageOptions> = {}): S3Storage {
  return new S3Storage({
    bucket: 'recordings',
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    checksumMode: 'WHEN_REQUIRED',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    multipartThresholdBytes: 6 * MIB,
    partSizeBytes: 5 * MIB,
    requestTimeoutMs: 10_000,
    ...overrides,
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recfleet-s3-'));
  s3 = new S3rver({ address: '127.0.0.1', port: 0, directory: join(dir, 'store'), silent: true });
  const { port } = await s3.run();
  endpoint = `http://127.0.0.1:${port}`;
  proxy = await startCorruptingProxy(endpoint);
  const admin = storage();
  await admin.client.send(new CreateBucketCommand({ Bucket: 'recordings' }));
  admin.close();
});
afterAll(async () => {
  await proxy?.close();
  await s3?.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  proxy.faults.throttleNext = 0;
  proxy.faults.corruptBodies = false;
  proxy.faults.wrongEtag = false;
});

async function rejection(p: Promise<unknown>): Promise<StorageError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StorageError);
  return err as StorageError;
}

describe('S3Storage against s3rver', () => {
  it('puts a small object and a multipart one, then heads, lists, locates and deletes them', async () => {
    const store = storage();
    const small = Buffer.from('#EXTM3U\n#EXT-X-VERSION:3\n');
    const big = randomBytes(11 * MIB + 3);
    const bigFile = join(dir, 'big.ts');
    await writeFile(bigFile, big);

    const a = await store.put('rec-1/index.m3u8', {
      data: small,
      contentType: 'application/vnd.apple.mpegurl',
    });
    expect(a).toMatchObject({ bytes: small.length });
    const b = await store.put('rec-1/seg-00001.ts', { filePath: bigFile, contentType: 'video/mp2t' });
    expect(b.bytes).toBe(big.length);

    expect(await store.head('rec-1/index.m3u8')).toEqual({
      key: 'rec-1/index.m3u8',
      bytes: small.length,
      md5: a.md5,
    });
    // AWS answers HEAD of a multipart object with the composite ETag (no md5); s3rver with the MD5.
    const headBig = await store.head('rec-1/seg-00001.ts');
    expect(headBig).toMatchObject({ key: 'rec-1/seg-00001.ts', bytes: big.length });
    if (headBig?.md5) expect(headBig.md5).toBe(b.md5);
    expect(await store.head('rec-1/missing.ts')).toBeUndefined();
    expect((await store.list('rec-1/')).map((o) => [o.key, o.bytes])).toEqual([
      ['rec-1/index.m3u8', small.length],
      ['rec-1/seg-00001.ts', big.length],
    ]);
    expect(store.locate('rec-1/index.m3u8')).toBe(`${endpoint}/recordings/rec-1/index.m3u8`);
    expect(storage({ endpoint: undefined, region: 'eu-west-1' }).locate('a b.ts')).toBe(
      'https://recordings.s3.eu-west-1.amazonaws.com/a%20b.ts',
    );

    await store.delete('rec-1/index.m3u8');
    await store.delete('rec-1/index.m3u8');
    expect(await store.head('rec-1/index.m3u8')).toBeUndefined();
    store.close();
  });

  it('fails fast with STORAGE_AUTH_FAILED on an unknown access key', async () => {
    const store = storage({ credentials: { accessKeyId: 'UNKNOWN', secretAccessKey: 'S3RVER' } });
    const err = await rejection(store.put('a.ts', { data: Buffer.from('a'), contentType: 'video/mp2t' }));
    expect(err.code).toBe('STORAGE_AUTH_FAILED');
    expect(err.retryable).toBe(false);
    expect((await rejection(store.head('a.ts'))).code).toBe('STORAGE_AUTH_FAILED');
    store.close();
  });

  it('reports an unknown bucket as STORAGE_BUCKET_NOT_FOUND', async () => {
    const store = storage({ bucket: 'no-such-bucket' });
    const err = await rejection(store.put('a.ts', { data: Buffer.from('a'), contentType: 'video/mp2t' }));
    expect(err.code).toBe('STORAGE_BUCKET_NOT_FOUND');
    expect(err.retryable).toBe(false);
    store.close();
  });

  describe('through the corrupting proxy', () => {
    const viaProxy = (): S3Storage => storage({ endpoint: proxy.url });

    it('reports 503 SlowDown as retryable STORAGE_THROTTLED', async () => {
      proxy.faults.throttleNext = 1;
      const err = await rejection(
        viaProxy().put('t.ts', { data: Buffer.from('t'), contentType: 'video/mp2t' }),
      );
      expect(err.code).toBe('STORAGE_THROTTLED');
      expect(err.retryable).toBe(true);
    });

    it('reports a body damaged in transit (BadDigest) as STORAGE_INTEGRITY', async () => {
      proxy.faults.corruptBodies = true;
      const err = await rejection(
        viaProxy().put('c.ts', { data: randomBytes(4096), contentType: 'video/mp2t' }),
      );
      expect(err.code).toBe('STORAGE_INTEGRITY');
      expect(err.retryable).toBe(true);
    });

    it('reports a damaged multipart part (no per-part MD5) through the composite ETag', async () => {
      proxy.faults.corruptBodies = true;
      const err = await rejection(
        viaProxy().put('mc.ts', { data: randomBytes(7 * MIB), contentType: 'video/mp2t' }),
      );
      expect(err.code).toBe('STORAGE_INTEGRITY');
    });

    it('reports a wrong ETag as STORAGE_INTEGRITY', async () => {
      proxy.faults.wrongEtag = true;
      const err = await rejection(
        viaProxy().put('e.ts', { data: randomBytes(4096), contentType: 'video/mp2t' }),
      );
      expect(err.code).toBe('STORAGE_INTEGRITY');
      expect(err.retryable).toBe(true);
    });
  });
});
