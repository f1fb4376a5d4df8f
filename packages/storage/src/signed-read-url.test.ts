import { createHmac } from 'node:crypto';
import OSS from 'ali-oss';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OssStorage } from './oss-storage.js';
import { QiniuStorage } from './qiniu-storage.js';
import { S3Storage } from './s3-storage.js';
import { MAX_SIGNED_URL_SECONDS, signedUrlWindow } from './signed-url.js';
import { StorageError } from './storage-adapter.js';

// Signing is local: no store is contacted by anything below.
const AT = new Date('2026-03-04T05:06:07Z');
const KEY = 'rec/01JREC_room~20a_000007.ts';

afterEach(() => {
  vi.useRealTimers();
});

function params(url: string): Record<string, string> {
  return Object.fromEntries(new URL(url).searchParams.entries());
}

describe('signedUrlWindow', () => {
  it('takes 1 to 7 days of whole seconds and computes the deadline from the signing time', () => {
    expect(signedUrlWindow({ expiresSeconds: 90, signedAt: AT })).toEqual({
      start: AT,
      seconds: 90,
      deadline: AT.getTime() / 1000 + 90,
    });
    for (const bad of [0, -1, 1.5, MAX_SIGNED_URL_SECONDS + 1, Number.NaN]) {
      expect(() => signedUrlWindow({ expiresSeconds: bad })).toThrow(StorageError);
    }
  });
});

describe('OssStorage.signedReadUrl', () => {
  const credentials = { accessKeyId: 'LTAI-unit', accessKeySecret: 'oss-unit-secret' };

  it('V1: is exactly the URL ali-oss signatureUrl makes for the same instant', async () => {
    for (const stsToken of [undefined, 'sts/token+with=chars']) {
      const creds = { ...credentials, ...(stsToken ? { stsToken } : {}) };
      const ours = await new OssStorage({
        bucket: 'recordings',
        region: 'cn-hangzhou',
        credentials: creds,
      }).signedReadUrl(KEY, { expiresSeconds: 300, signedAt: AT });
      vi.useFakeTimers({ now: AT });
      const sdk = new OSS({
        bucket: 'recordings',
        region: 'oss-cn-hangzhou',
        secure: true,
        accessKeyId: creds.accessKeyId,
        accessKeySecret: creds.accessKeySecret,
        ...(stsToken ? { stsToken } : {}),
      }).signatureUrl(KEY, { expires: 300 });
      vi.useRealTimers();
      const [ourBase, sdkBase] = [ours, sdk].map((u) => u.slice(0, u.indexOf('?')));
      expect(ourBase).toBe(sdkBase);
      expect(params(ours)).toEqual(params(sdk));
      expect(params(ours).Expires).toBe(String(AT.getTime() / 1000 + 300));
      expect(ours).not.toContain(credentials.accessKeySecret);
    }
  });

  it('V4: is exactly the URL ali-oss signatureUrlV4 makes for the same instant', async () => {
    const ours = await new OssStorage({
      bucket: 'recordings',
      region: 'oss-cn-hangzhou',
      authorizationV4: true,
      credentials,
    }).signedReadUrl(KEY, { expiresSeconds: 300, signedAt: AT });
    vi.useFakeTimers({ now: AT });
    const sdk = await new OSS({
      bucket: 'recordings',
      region: 'oss-cn-hangzhou',
      secure: true,
      authorizationV4: true,
      ...credentials,
    } as OSS.Options).signatureUrlV4('GET', 300, undefined, KEY);
    vi.useRealTimers();
    expect(ours.slice(0, ours.indexOf('?'))).toBe(sdk.slice(0, sdk.indexOf('?')));
    expect(params(ours)).toEqual(params(sdk));
    expect(params(ours)['x-oss-date']).toBe('20260304T050607Z');
  });

  it('names the bucket in the path for an IP endpoint, where ali-oss cannot sign at all', async () => {
    const url = await new OssStorage({
      bucket: 'recordings',
      region: 'cn-hangzhou',
      endpoint: 'http://127.0.0.1:9000',
      credentials,
    }).signedReadUrl(KEY, { expiresSeconds: 60, signedAt: AT });
    expect(url.startsWith('http://127.0.0.1:9000/recordings/rec/01JREC_room~20a_000007.ts?')).toBe(true);
    const expires = AT.getTime() / 1000 + 60;
    const signature = createHmac('sha1', credentials.accessKeySecret)
      .update(`GET\n\n\n${expires}\n/recordings/${KEY}`)
      .digest('base64');
    expect(params(url)).toEqual({
      OSSAccessKeyId: credentials.accessKeyId,
      Expires: String(expires),
      Signature: signature,
    });
  });
});

describe('QiniuStorage.signedReadUrl', () => {
  const credentials = { accessKey: 'qiniu-unit-ak', secretKey: 'qiniu-unit-sk' };

  it('signs <domain>/<key>?e=<deadline> with HMAC-SHA1 as the private-download token', async () => {
    const store = new QiniuStorage({
      bucket: 'recordings',
      region: 'z0',
      downloadBaseUrl: 'https://media.example.com/',
      credentials,
    });
    const url = await store.signedReadUrl(KEY, { expiresSeconds: 120, signedAt: AT });
    const cut = url.indexOf('&token=');
    const signed = url.slice(0, cut);
    expect(signed).toBe(`https://media.example.com/${KEY}?e=${AT.getTime() / 1000 + 120}`);
    const sign = createHmac('sha1', credentials.secretKey)
      .update(signed)
      .digest('base64')
      .replace(/\+/g, '-')
      .replace(/\//g, '_');
    expect(url.slice(cut)).toBe(`&token=${credentials.accessKey}:${sign}`);
  });

  it('refuses without a download domain, with a code and the setting to add', async () => {
    const store = new QiniuStorage({ bucket: 'recordings', region: 'z0', credentials });
    const err = await store.signedReadUrl(KEY, { expiresSeconds: 60 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).code).toBe('STORAGE_CONFIG_INVALID');
    expect((err as StorageError).message).toMatch(/downloadBaseUrl/);
  });
});

describe('S3Storage.signedReadUrl', () => {
  it('is a SigV4 query-presigned GET of the key with the asked lifetime, host the only signed header', async () => {
    const store = new S3Storage({
      bucket: 'recordings',
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKIDUNIT', secretAccessKey: 's3-unit-secret', sessionToken: 'sess-tok' },
    });
    try {
      const url = await store.signedReadUrl(KEY, { expiresSeconds: 900, signedAt: AT });
      expect(url.startsWith(`https://recordings.s3.eu-west-1.amazonaws.com/${KEY}?`)).toBe(true);
      const p = params(url);
      expect(p).toMatchObject({
        'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
        'X-Amz-Credential': 'AKIDUNIT/20260304/eu-west-1/s3/aws4_request',
        'X-Amz-Date': '20260304T050607Z',
        'X-Amz-Expires': '900',
        'X-Amz-SignedHeaders': 'host',
        'X-Amz-Security-Token': 'sess-tok',
      });
      expect(p['X-Amz-Signature']).toMatch(/^[0-9a-f]{64}$/);
      expect(url).not.toContain('s3-unit-secret');
      await expect(store.signedReadUrl(KEY, { expiresSeconds: 604_801 })).rejects.toMatchObject({
        code: 'STORAGE_CONFIG_INVALID',
      });
    } finally {
      store.close();
    }
  });
});
