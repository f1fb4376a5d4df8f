import { describe, expect, it } from 'vitest';
import { crc64 } from './body-digest.js';
import { OssStorage } from './oss-storage.js';
import { QiniuStorage } from './qiniu-storage.js';
import { S3Storage } from './s3-storage.js';
import { StorageError } from './storage-adapter.js';
import { openStorage, parseStorageProfiles } from './storage-profiles.js';

const profiles = {
  aws: {
    type: 's3',
    bucket: 'recordings',
    region: 'eu-west-1',
    accessKeyId: { env: 'S3_KEY' },
    secretAccessKey: { file: '/run/secrets/s3_secret' },
  },
  minio: {
    type: 's3',
    bucket: 'recordings',
    region: 'us-east-1',
    endpoint: 'http://minio:9000',
    forcePathStyle: true,
    checksumMode: 'WHEN_REQUIRED',
    accessKeyId: 'minio',
    secretAccessKey: { env: 'MINIO_SECRET' },
    multipartThresholdBytes: 33554432,
    partSizeBytes: 8388608,
    requestTimeoutMs: 20000,
  },
  aliyun: {
    type: 'oss',
    bucket: 'recordings',
    region: 'oss-cn-hangzhou',
    authorizationV4: true,
    accessKeyId: { env: 'OSS_KEY' },
    accessKeySecret: { env: 'OSS_SECRET' },
  },
  kodo: {
    type: 'qiniu',
    bucket: 'recordings',
    region: 'z0',
    accessKey: { env: 'QINIU_AK' },
    secretKey: { env: 'QINIU_SK' },
    downloadBaseUrl: 'https://cdn.example.com',
  },
};

function configError(fn: () => unknown): StorageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).code).toBe('STORAGE_CONFIG_INVALID');
    return err as StorageError;
  }
  throw new Error('expected a config error');
}

describe('storage profiles', () => {
  it('parses one profile of each vendor and opens the matching adapter', () => {
    const parsed = parseStorageProfiles(profiles);
    const env = {
      S3_KEY: 'k',
      MINIO_SECRET: 's',
      OSS_KEY: 'k',
      OSS_SECRET: 's',
      QINIU_AK: 'a',
      QINIU_SK: 's',
    };
    expect(openStorage(parsed, 'minio', env)).toBeInstanceOf(S3Storage);
    expect(openStorage(parsed, 'aliyun', env)).toBeInstanceOf(OssStorage);
    expect(openStorage(parsed, 'kodo', env)).toBeInstanceOf(QiniuStorage);
    expect(openStorage(parsed, 'kodo', env).locate('a/b.ts')).toBe('https://cdn.example.com/a/b.ts');
  });

  it('names the field path of every invalid key', () => {
    const err = configError(() =>
      parseStorageProfiles({
        ...profiles,
        minio: { ...profiles.minio, partSizeBytes: 1024, endpoint: 'minio:9000' },
        kodo: { ...profiles.kodo, region: undefined },
        aliyun: { ...profiles.aliyun, accessKeySecret: { env: 'bad name' }, surprise: 1 },
      }),
    );
    expect(err.message).toContain('profiles.minio.partSizeBytes: S3 parts must be at least 5 MiB');
    expect(err.message).toContain('profiles.minio.endpoint');
    expect(err.message).toContain('profiles.kodo.region');
    expect(err.message).toContain('profiles.aliyun.accessKeySecret');
    expect(err.message).toMatch(/profiles\.aliyun.*surprise/);
  });

  it('names the profile field of a secret that cannot be resolved', () => {
    const parsed = parseStorageProfiles(profiles);
    const err = configError(() => openStorage(parsed, 'aws', { S3_KEY: 'k' }));
    expect(err.message).toContain('profiles.aws.secretAccessKey');
    expect(err.message).not.toContain('k:');
  });

  it('rejects an unknown profile name as STORAGE_PROFILE_UNKNOWN', () => {
    expect(() => openStorage(parseStorageProfiles(profiles), 'nope')).toThrow(/not configured/);
  });
});

describe('crc64', () => {
  it('matches the CRC-64/XZ check value OSS uses', () => {
    expect(crc64(Buffer.from('123456789'))).toBe(BigInt('0x995DC9BBDF1939FA').toString());
    expect(crc64(Buffer.alloc(0))).toBe('0');
  });
});
