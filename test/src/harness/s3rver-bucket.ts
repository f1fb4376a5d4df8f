import { S3Storage } from '@recfleet/storage';

/**
 * The bucket `rec` of an s3rver (which takes any signature of its `S3RVER` key) as the fault tests use
 * it: a worker's storage profile reaching it at `endpoint` (the server, or a proxy in front of it), and
 * a client that reads back what landed.
 */
export function s3rverProfile(endpoint: string): Record<string, unknown> {
  return {
    type: 's3',
    bucket: 'rec',
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    checksumMode: 'WHEN_REQUIRED',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    requestTimeoutMs: 3000,
  };
}

export function s3rverStorage(endpoint: string): S3Storage {
  return new S3Storage({
    bucket: 'rec',
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    checksumMode: 'WHEN_REQUIRED',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
}
