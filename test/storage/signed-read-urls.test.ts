/**
 * Signed read URLs against servers that check them: the OSS and Qiniu test servers (which verify query
 * signatures and expiry as the services do) and s3rver behind a proxy that checks SigV4 presigning from
 * the AWS specification (s3rver itself accepts any signature). A URL we sign must fetch the exact bytes;
 * a tampered, re-targeted, expired or unsigned one must be refused.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
// @ts-expect-error s3rver ships no type declarations
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OssStorage,
  QiniuStorage,
  S3Storage,
  type StorageAdapter,
} from '../../packages/storage/src/index.js';
import { startOssTestServer, type OssTestServer } from '../src/fakes/oss-test-server.js';
import { startQiniuTestServer, type QiniuTestServer } from '../src/fakes/qiniu-test-server.js';
import {
  startS3PresignProxy,
  verifyS3PresignedRequest,
  type S3PresignProxy,
} from '../src/fakes/s3-presign-proxy.js';

const S3_CREDS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const OSS_CREDS = { accessKeyId: 'LTAI-signed', accessKeySecret: 'oss-signed-secret' };
const QINIU_CREDS = { accessKey: 'qiniu-signed-ak', secretKey: 'qiniu-signed-sk' };
const KEY = 'rec/01JSIGNED_room~20a_000001.ts';
const OTHER = 'rec/01JSIGNED_room~20a_000002.ts';
const BYTES = Buffer.from('G'.repeat(188 * 4));
const HOUR_AGO = new Date(Date.now() - 3600_000);

let dir: string;
let s3: { run(): Promise<{ port: number }>; close(): Promise<void> };
let proxy: S3PresignProxy;
let oss: OssTestServer;
let qiniu: QiniuTestServer;
const stores: Record<
  string,
  StorageAdapter & { signedReadUrl: NonNullable<StorageAdapter['signedReadUrl']> }
> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recfleet-signed-'));
  s3 = new S3rver({ address: '127.0.0.1', port: 0, directory: join(dir, 's3'), silent: true });
  const { port } = await s3.run();
  proxy = await startS3PresignProxy(`http://127.0.0.1:${port}`, S3_CREDS);
  const s3Store = new S3Storage({
    bucket: 'recordings',
    region: 'us-east-1',
    endpoint: proxy.url,
    forcePathStyle: true,
    credentials: S3_CREDS,
  });
  await s3Store.client.send(new CreateBucketCommand({ Bucket: 'recordings' }));
  oss = await startOssTestServer({ ...OSS_CREDS, buckets: ['recordings'] });
  qiniu = await startQiniuTestServer({
    ...QINIU_CREDS,
    buckets: ['recordings'],
    downloadBucket: 'recordings',
  });
  const ossOptions = {
    bucket: 'recordings',
    region: 'cn-hangzhou',
    endpoint: oss.url,
    credentials: OSS_CREDS,
  };
  stores.s3 = s3Store;
  stores['oss-v1'] = new OssStorage(ossOptions);
  stores['oss-v4'] = new OssStorage({ ...ossOptions, authorizationV4: true });
  stores.qiniu = new QiniuStorage({
    bucket: 'recordings',
    upHost: qiniu.url,
    rsHost: qiniu.url,
    rsfHost: qiniu.url,
    useHttps: false,
    downloadBaseUrl: qiniu.downloadUrl!,
    credentials: QINIU_CREDS,
  });
  for (const name of ['s3', 'oss-v1', 'qiniu']) {
    await stores[name]!.put(KEY, { data: BYTES, contentType: 'video/mp2t' });
    await stores[name]!.put(OTHER, { data: Buffer.from('other'), contentType: 'video/mp2t' });
  }
});

afterAll(async () => {
  (stores.s3 as S3Storage | undefined)?.close();
  await proxy?.close();
  await s3?.close();
  await oss?.close();
  await qiniu?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Changes one character of the signature parameter, keeping its alphabet. */
function tamper(url: string): string {
  const u = new URL(url);
  for (const name of ['X-Amz-Signature', 'Signature', 'x-oss-signature']) {
    const v = u.searchParams.get(name);
    if (v) {
      u.searchParams.set(name, (v[0] === 'a' ? 'b' : 'a') + v.slice(1));
      return u.toString();
    }
  }
  // Qiniu: the token is the last parameter, `AK:sign`.
  const at = url.lastIndexOf(':') + 1;
  return url.slice(0, at) + (url[at] === 'A' ? 'B' : 'A') + url.slice(at + 1);
}

// Qiniu answers every download-token failure with 401; S3 and OSS with 403.
const refused = (name: string): number => (name === 'qiniu' ? 401 : 403);

describe.each(['s3', 'oss-v1', 'oss-v4', 'qiniu'])('%s signed read URLs', (name) => {
  it('fetch the exact stored bytes with no other credential', async () => {
    const url = await stores[name]!.signedReadUrl(KEY, { expiresSeconds: 60 });
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(BYTES)).toBe(true);
  });

  it('are refused when the signature is altered or the URL is pointed at another object', async () => {
    const url = await stores[name]!.signedReadUrl(KEY, { expiresSeconds: 60 });
    expect((await fetch(tamper(url))).status).toBe(refused(name));
    const retargeted = url.replace('_000001.ts', '_000002.ts');
    expect(retargeted).not.toBe(url);
    expect((await fetch(retargeted)).status).toBe(refused(name));
  });

  it('are refused once expired; the unsigned object URL is refused too (private bucket)', async () => {
    const url = await stores[name]!.signedReadUrl(KEY, { expiresSeconds: 60, signedAt: HOUR_AGO });
    const res = await fetch(url);
    expect(res.status).toBe(refused(name));
    const text = await res.text();
    if (name === 'qiniu') expect(JSON.parse(text)).toEqual({ error: 'token out of date' });
    else expect(text).toMatch(/Request has expired/);
    // s3rver has no bucket policies (every bucket reads as public), so only the others can show this.
    if (name !== 's3') expect((await fetch(stores[name]!.locate(KEY))).status).toBe(refused(name));
  });
});

describe('the S3 presign check itself', () => {
  it('saw and judged every presigned request above', () => {
    expect(proxy.presigned.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(1);
    expect(proxy.presigned.filter((r) => r.status === 403).length).toBeGreaterThanOrEqual(3);
  });

  it('accepts an AWS virtual-host URL with a session token as received by that host', async () => {
    const store = new S3Storage({
      bucket: 'recordings',
      region: 'eu-central-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'aws-secret', sessionToken: 'tok/en+=' },
    });
    try {
      const url = new URL(await store.signedReadUrl('a dir/ü~x.ts', { expiresSeconds: 300 }));
      const check = (secret: string): unknown =>
        verifyS3PresignedRequest(
          'GET',
          url.pathname + url.search,
          { host: url.host },
          {
            accessKeyId: 'AKIDEXAMPLE',
            secretAccessKey: secret,
          },
        );
      expect(check('aws-secret')).toBeUndefined();
      expect(check('wrong-secret')).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
    } finally {
      store.close();
    }
  });
});
