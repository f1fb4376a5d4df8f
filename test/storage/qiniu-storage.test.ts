import { createHmac, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  QiniuStorage,
  StorageError,
  qiniuEtag,
  type QiniuStorageOptions,
} from '../../packages/storage/src/index.js';
import { startQiniuTestServer, type QiniuTestServer } from '../src/fakes/qiniu-test-server.js';

const AK = 'qiniu-test-ak';
const SK = 'qiniu-test-sk';

let server: QiniuTestServer;
let dir: string;

beforeAll(async () => {
  server = await startQiniuTestServer({ accessKey: AK, secretKey: SK, buckets: ['recordings'] });
  dir = await mkdtemp(join(tmpdir(), 'recfleet-qiniu-'));
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

function storage(overrides: Partial<QiniuStorageOptions> = {}): QiniuStorage {
  return new QiniuStorage({
    bucket: 'recordings',
    upHost: server.url,
    rsHost: server.url,
    rsfHost: server.url,
    useHttps: false,
    credentials: { accessKey: AK, secretKey: SK },
    multipartThresholdBytes: 1024 * 1024,
    timeoutMs: 10_000,
    downloadBaseUrl: 'https://cdn.example.com',
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

describe('QiniuStorage', () => {
  it('form-uploads small objects and resumable-uploads big ones, then heads, lists, locates, deletes', async () => {
    const q = storage();
    const small = Buffer.from('#EXTM3U\n');
    const big = randomBytes(9 * 1024 * 1024 + 5);
    const bigFile = join(dir, 'big.ts');
    await writeFile(bigFile, big);

    await q.put('rec-1/index.m3u8', { data: small, contentType: 'application/vnd.apple.mpegurl' });
    // The playlist is rewritten under the same key: a bucket:key token allows the overwrite.
    await q.put('rec-1/index.m3u8', {
      data: Buffer.concat([small, small]),
      contentType: 'application/vnd.apple.mpegurl',
    });
    expect(server.requests.some((r) => r.method === 'POST' && r.path === '/')).toBe(true);

    const stored = await q.put('rec-1/seg-00001.ts', { filePath: bigFile, contentType: 'video/mp2t' });
    expect(stored.bytes).toBe(big.length);
    expect(server.requests.filter((r) => /\/uploads\/[^/]+\/\d+$/.test(r.path))).toHaveLength(3);
    expect(server.objects.get('recordings')!.get('rec-1/seg-00001.ts')!.data.equals(big)).toBe(true);
    expect(server.objects.get('recordings')!.get('rec-1/seg-00001.ts')!.hash).toBe(await qiniuEtag(big));

    expect(await q.head('rec-1/index.m3u8')).toEqual({ key: 'rec-1/index.m3u8', bytes: small.length * 2 });
    expect(await q.head('rec-1/missing.ts')).toBeUndefined();
    expect((await q.list('rec-1/')).map((o) => [o.key, o.bytes])).toEqual([
      ['rec-1/index.m3u8', small.length * 2],
      ['rec-1/seg-00001.ts', big.length],
    ]);
    expect(q.locate('rec-1/index.m3u8')).toBe('https://cdn.example.com/rec-1/index.m3u8');
    await q.delete('rec-1/index.m3u8');
    await q.delete('rec-1/index.m3u8');
    expect(await q.head('rec-1/index.m3u8')).toBeUndefined();
  });

  it('fails fast with STORAGE_AUTH_FAILED on a wrong secret, for uploads and management', async () => {
    const q = storage({ credentials: { accessKey: AK, secretKey: 'wrong' } });
    for (const op of [
      () => q.put('a.ts', { data: Buffer.from('a'), contentType: 'video/mp2t' }),
      () => q.head('a.ts'),
      () => q.list(''),
    ]) {
      const err = await rejection(op());
      expect(err.code).toBe('STORAGE_AUTH_FAILED');
      expect(err.retryable).toBe(false);
    }
    const unknown = await rejection(
      storage({ credentials: { accessKey: 'other', secretKey: SK } }).put('a.ts', {
        data: Buffer.from('a'),
        contentType: 'video/mp2t',
      }),
    );
    expect(unknown.code).toBe('STORAGE_AUTH_FAILED');
  });

  it('reports an unknown bucket as STORAGE_BUCKET_NOT_FOUND', async () => {
    const q = storage({ bucket: 'no-such-bucket' });
    const err = await rejection(q.put('a.ts', { data: Buffer.from('a'), contentType: 'video/mp2t' }));
    expect(err.code).toBe('STORAGE_BUCKET_NOT_FOUND');
    expect(err.retryable).toBe(false);
    expect((await rejection(q.list(''))).code).toBe('STORAGE_BUCKET_NOT_FOUND');
  });

  it('reports 573 throttling as retryable STORAGE_THROTTLED', async () => {
    server.faults.throttleNext = 1;
    const err = await rejection(storage().put('t.ts', { data: Buffer.from('t'), contentType: 'video/mp2t' }));
    expect(err.code).toBe('STORAGE_THROTTLED');
    expect(err.retryable).toBe(true);
  });

  it('reports a damaged body (CRC32 / part MD5 refused) as STORAGE_INTEGRITY', async () => {
    server.faults.corruptBodies = true;
    const form = await rejection(
      storage().put('c.ts', { data: randomBytes(1000), contentType: 'video/mp2t' }),
    );
    expect(form.code).toBe('STORAGE_INTEGRITY');
    const resumable = await rejection(
      storage().put('c2.ts', { data: randomBytes(2 * 1024 * 1024), contentType: 'video/mp2t' }),
    );
    expect(resumable.code).toBe('STORAGE_INTEGRITY');
  });

  it('reports a wrong hash as STORAGE_INTEGRITY', async () => {
    server.faults.wrongEtag = true;
    const err = await rejection(
      storage().put('e.ts', { data: randomBytes(1000), contentType: 'video/mp2t' }),
    );
    expect(err.code).toBe('STORAGE_INTEGRITY');
    expect(err.retryable).toBe(true);
  });

  it('verifies the V2 "Qiniu" management signature as the rs host computes it (Host header as sent)', async () => {
    await storage().put('v2.ts', { data: Buffer.from('v2'), contentType: 'video/mp2t' });
    const path = `/stat/${Buffer.from('recordings:v2.ts').toString('base64url')}`;
    const host = `127.0.0.1:${server.port}`;
    const sign = (secret: string): string =>
      createHmac('sha1', secret)
        .update(`GET ${path}\nHost: ${host}\nContent-Type: application/x-www-form-urlencoded\n\n`)
        .digest('base64')
        .replace(/\+/g, '-')
        .replace(/\//g, '_');
    const call = (secret: string): Promise<Response> =>
      fetch(`${server.url}${path}`, {
        headers: {
          Authorization: `Qiniu ${AK}:${sign(secret)}`,
          'Content-Type': 'application/x-www-form-urlencoded',
        },
      });
    const ok = await call(SK);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ fsize: 2 });
    const bad = await call('wrong');
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual({ error: 'bad token' });
  });
});
