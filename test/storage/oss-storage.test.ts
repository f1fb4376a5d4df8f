import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OssStorage, StorageError, type OssStorageOptions } from '../../packages/storage/src/index.js';
import { startOssTestServer, type OssTestServer } from '../src/fakes/oss-test-server.js';

const AK = 'LTAI-test-key';
const SK = 'oss-test-secret';

let server: OssTestServer;
let dir: string;

beforeAll(async () => {
  server = await startOssTestServer({ accessKeyId: AK, accessKeySecret: SK, buckets: ['recordings'] });
  dir = await mkdtemp(join(tmpdir(), 'recfleet-oss-'));
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  server.faults.throttleNext = 0;
  server.faults.corruptBodies = false;
  server.faults.wrongEtag = false;
});

function storage(overrides: Partial<OssStorageOptions> = {}): OssStorage {
  return new OssStorage({
    bucket: 'recordings',
    region: 'oss-cn-hangzhou',
    endpoint: server.url,
    credentials: { accessKeyId: AK, accessKeySecret: SK },
    multipartThresholdBytes: 512 * 1024,
    partSizeBytes: 200 * 1024,
    timeoutMs: 10_000,
    ...overrides,
  });
}

async function rejection(p: Promise<unknown>): Promise<StorageError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StorageError);
  return err as StorageError;
}

describe.each([
  ['V1 signatures', false],
  ['V4 signatures', true],
])('OssStorage with %s', (_label, authorizationV4) => {
  it('puts small and multipart objects, then heads, lists, locates and deletes them', async () => {
    const oss = storage({ authorizationV4 });
    const prefix = `v4-${authorizationV4}/rec-1/`;
    const small = Buffer.from('#EXTM3U\n#EXT-X-VERSION:3\n');
    const big = randomBytes(700 * 1024 + 17);
    const bigFile = join(dir, `big-${authorizationV4}.ts`);
    await writeFile(bigFile, big);

    const a = await oss.put(`${prefix}index.m3u8`, {
      data: small,
      contentType: 'application/vnd.apple.mpegurl',
    });
    expect(a.bytes).toBe(small.length);
    const b = await oss.put(`${prefix}seg-00001.ts`, { filePath: bigFile, contentType: 'video/mp2t' });
    expect(b.bytes).toBe(big.length);
    // The big one really went through InitiateMultipartUpload/UploadPart/Complete.
    expect(server.requests.some((r) => r.path.includes('partNumber=4'))).toBe(true);
    expect(server.objects.get('recordings')!.get(`${prefix}seg-00001.ts`)!.data.equals(big)).toBe(true);
    expect(server.requests.at(-1)!.auth.startsWith(authorizationV4 ? 'OSS4-HMAC-SHA256 ' : 'OSS ')).toBe(
      true,
    );

    expect(await oss.head(`${prefix}index.m3u8`)).toMatchObject({ bytes: small.length, md5: a.md5 });
    expect(await oss.head(`${prefix}missing.ts`)).toBeUndefined();
    expect((await oss.list(prefix)).map((o) => [o.key, o.bytes])).toEqual([
      [`${prefix}index.m3u8`, small.length],
      [`${prefix}seg-00001.ts`, big.length],
    ]);
    expect(oss.locate(`${prefix}index.m3u8`)).toContain(`${prefix}index.m3u8`);

    await oss.delete(`${prefix}index.m3u8`);
    await oss.delete(`${prefix}index.m3u8`);
    expect(await oss.head(`${prefix}index.m3u8`)).toBeUndefined();
  });

  it('fails fast with STORAGE_AUTH_FAILED on a wrong secret and on an unknown key', async () => {
    for (const credentials of [
      { accessKeyId: AK, accessKeySecret: 'wrong-secret' },
      { accessKeyId: 'LTAI-unknown', accessKeySecret: SK },
    ]) {
      const err = await rejection(
        storage({ authorizationV4, credentials }).put('x.ts', {
          data: Buffer.from('x'),
          contentType: 'video/mp2t',
        }),
      );
      expect(err.code).toBe('STORAGE_AUTH_FAILED');
      expect(err.retryable).toBe(false);
    }
    const headErr = await rejection(
      storage({ authorizationV4, credentials: { accessKeyId: AK, accessKeySecret: 'nope' } }).head('x.ts'),
    );
    expect(headErr.code).toBe('STORAGE_AUTH_FAILED');
  });
});

describe('OssStorage faults', () => {
  it('reports an unknown bucket as STORAGE_BUCKET_NOT_FOUND', async () => {
    const err = await rejection(
      storage({ bucket: 'no-such-bucket' }).put('a.ts', {
        data: Buffer.from('a'),
        contentType: 'video/mp2t',
      }),
    );
    expect(err.code).toBe('STORAGE_BUCKET_NOT_FOUND');
    expect(err.retryable).toBe(false);
    const listErr = await rejection(storage({ bucket: 'no-such-bucket' }).list(''));
    expect(listErr.code).toBe('STORAGE_BUCKET_NOT_FOUND');
  });

  it('reports 503 throttling as retryable STORAGE_THROTTLED', async () => {
    server.faults.throttleNext = 1;
    const err = await rejection(storage().put('t.ts', { data: Buffer.from('t'), contentType: 'video/mp2t' }));
    expect(err.code).toBe('STORAGE_THROTTLED');
    expect(err.retryable).toBe(true);
  });

  it('reports a body damaged in transit (Content-MD5 refused) as STORAGE_INTEGRITY', async () => {
    server.faults.corruptBodies = true;
    const err = await rejection(
      storage().put('c.ts', { data: randomBytes(1000), contentType: 'video/mp2t' }),
    );
    expect(err.code).toBe('STORAGE_INTEGRITY');
    expect(err.retryable).toBe(true);
  });

  it('reports a damaged multipart part (no per-part MD5) through the CRC-64 check', async () => {
    server.faults.corruptBodies = true;
    const err = await rejection(
      storage().put('mc.ts', { data: randomBytes(600 * 1024), contentType: 'video/mp2t' }),
    );
    expect(err.code).toBe('STORAGE_INTEGRITY');
  });

  it('reports a wrong ETag as STORAGE_INTEGRITY', async () => {
    server.faults.wrongEtag = true;
    const err = await rejection(
      storage().put('e.ts', { data: randomBytes(1000), contentType: 'video/mp2t' }),
    );
    expect(err.code).toBe('STORAGE_INTEGRITY');
    expect(err.retryable).toBe(true);
  });
});
