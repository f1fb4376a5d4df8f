import { z } from 'zod';
import { LocalDiskStorage } from './local-disk-storage.js';
import { OssStorage, OSS_MIN_PART_SIZE } from './oss-storage.js';
import { QiniuStorage } from './qiniu-storage.js';
import { S3Storage, S3_MIN_PART_SIZE } from './s3-storage.js';
import { SecretRefSchema, resolveSecret } from './secret-ref.js';
import { StorageError, type StorageAdapter } from './storage-adapter.js';

export const LocalProfileSchema = z
  .object({
    type: z.literal('local'),
    /** Directory that plays the role of the bucket. */
    root: z.string().min(1),
  })
  .strict();

const positiveInt = z.number().int().positive();
const httpUrl = z.string().regex(/^https?:\/\/[^/]+/, 'must be a URL with http:// or https://');

export const S3ProfileSchema = z
  .object({
    type: z.literal('s3'),
    bucket: z.string().min(1),
    region: z.string().min(1),
    /** S3-compatible endpoint (MinIO, Ceph, ...); omit for AWS. */
    endpoint: httpUrl.optional(),
    forcePathStyle: z.boolean().optional(),
    /**
     * WHEN_SUPPORTED (AWS default) or WHEN_REQUIRED. S3-compatible servers generally need WHEN_REQUIRED:
     * several store the aws-chunked checksum framing as object data. Default: WHEN_SUPPORTED without an
     * endpoint, WHEN_REQUIRED with one.
     */
    checksumMode: z.enum(['WHEN_SUPPORTED', 'WHEN_REQUIRED']).optional(),
    accessKeyId: SecretRefSchema,
    secretAccessKey: SecretRefSchema,
    sessionToken: SecretRefSchema.optional(),
    multipartThresholdBytes: positiveInt.optional(),
    partSizeBytes: positiveInt.min(S3_MIN_PART_SIZE, 'S3 parts must be at least 5 MiB').optional(),
    requestTimeoutMs: positiveInt.optional(),
  })
  .strict();

export const OssProfileSchema = z
  .object({
    type: z.literal('oss'),
    bucket: z.string().min(1),
    region: z.string().min(1),
    endpoint: httpUrl.optional(),
    cname: z.boolean().optional(),
    secure: z.boolean().optional(),
    authorizationV4: z.boolean().optional(),
    accessKeyId: SecretRefSchema,
    accessKeySecret: SecretRefSchema,
    stsToken: SecretRefSchema.optional(),
    multipartThresholdBytes: positiveInt.optional(),
    partSizeBytes: positiveInt.min(OSS_MIN_PART_SIZE, 'OSS parts must be at least 100 KiB').optional(),
    timeoutMs: positiveInt.optional(),
  })
  .strict();

const qiniuHost = z
  .string()
  .regex(/^(https?:\/\/)?[^/\s]+\/?$/, 'must be host[:port] or a URL without a path');

export const QiniuProfileSchema = z
  .object({
    type: z.literal('qiniu'),
    bucket: z.string().min(1),
    /** Region id (z0, z1, z2, na0, as0, ...). */
    region: z.string().min(1).optional(),
    upHost: qiniuHost.optional(),
    rsHost: qiniuHost.optional(),
    rsfHost: qiniuHost.optional(),
    apiHost: qiniuHost.optional(),
    useHttps: z.boolean().optional(),
    accessKey: SecretRefSchema,
    secretKey: SecretRefSchema,
    multipartThresholdBytes: positiveInt.optional(),
    tokenTtlSeconds: positiveInt.optional(),
    timeoutMs: positiveInt.optional(),
    /** A download domain bound to the bucket; needed for signed (private) download URLs. */
    downloadBaseUrl: httpUrl.optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (!p.region && !p.upHost) {
      ctx.addIssue({
        code: 'custom',
        path: ['region'],
        message: 'set region, or upHost with rsHost and rsfHost',
      });
    }
    if (!p.region && p.upHost) {
      for (const field of ['rsHost', 'rsfHost'] as const) {
        if (!p[field])
          ctx.addIssue({ code: 'custom', path: [field], message: `${field} is required without region` });
      }
    }
  });

export const StorageProfileSchema = z.discriminatedUnion('type', [
  LocalProfileSchema,
  S3ProfileSchema,
  OssProfileSchema,
  QiniuProfileSchema,
]);
export type StorageProfile = z.output<typeof StorageProfileSchema>;
export type S3Profile = z.output<typeof S3ProfileSchema>;
export type OssProfile = z.output<typeof OssProfileSchema>;
export type QiniuProfile = z.output<typeof QiniuProfileSchema>;

export const StorageProfilesSchema = z.record(
  z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'profile names must be 1–64 of a-z, 0-9, _ and -'),
  StorageProfileSchema,
);
export type StorageProfiles = z.output<typeof StorageProfilesSchema>;

/**
 * Validates the host's storage profiles; every problem is reported with its path
 * (`profiles.archive.partSizeBytes: ...`) so the operator knows which key to fix.
 */
export function parseStorageProfiles(raw: unknown, root = 'profiles'): StorageProfiles {
  const result = StorageProfilesSchema.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const path = [root, ...issue.path.map(String)].join('.');
    return `${path}: ${issue.message}`;
  });
  throw new StorageError('STORAGE_CONFIG_INVALID', `invalid storage profiles:\n  ${lines.join('\n  ')}`);
}

/** Builds the adapter for a named profile; an unknown name is the job's mistake, not a transient fault. */
export function openStorage(
  profiles: StorageProfiles,
  name: string,
  env: Record<string, string | undefined> = process.env,
): StorageAdapter {
  const profile = profiles[name];
  if (!profile) {
    const known = Object.keys(profiles).join(', ') || '(none)';
    throw new StorageError(
      'STORAGE_PROFILE_UNKNOWN',
      `storage profile "${name}" is not configured on this host (known: ${known})`,
    );
  }
  const secret = (field: string, ref: z.output<typeof SecretRefSchema>): string =>
    resolveSecret(ref, env, `profiles.${name}.${field}`);
  switch (profile.type) {
    case 'local':
      return new LocalDiskStorage(profile.root);
    case 's3':
      return new S3Storage({
        bucket: profile.bucket,
        region: profile.region,
        ...(profile.endpoint ? { endpoint: profile.endpoint } : {}),
        ...(profile.forcePathStyle !== undefined ? { forcePathStyle: profile.forcePathStyle } : {}),
        ...(profile.checksumMode ? { checksumMode: profile.checksumMode } : {}),
        credentials: {
          accessKeyId: secret('accessKeyId', profile.accessKeyId),
          secretAccessKey: secret('secretAccessKey', profile.secretAccessKey),
          ...(profile.sessionToken ? { sessionToken: secret('sessionToken', profile.sessionToken) } : {}),
        },
        ...(profile.multipartThresholdBytes
          ? { multipartThresholdBytes: profile.multipartThresholdBytes }
          : {}),
        ...(profile.partSizeBytes ? { partSizeBytes: profile.partSizeBytes } : {}),
        ...(profile.requestTimeoutMs ? { requestTimeoutMs: profile.requestTimeoutMs } : {}),
      });
    case 'oss': {
      const { type: _type, accessKeyId, accessKeySecret, stsToken, ...rest } = profile;
      return new OssStorage({
        ...rest,
        credentials: {
          accessKeyId: secret('accessKeyId', accessKeyId),
          accessKeySecret: secret('accessKeySecret', accessKeySecret),
          ...(stsToken ? { stsToken: secret('stsToken', stsToken) } : {}),
        },
      });
    }
    case 'qiniu': {
      const { type: _type, accessKey, secretKey, ...rest } = profile;
      return new QiniuStorage({
        ...rest,
        credentials: { accessKey: secret('accessKey', accessKey), secretKey: secret('secretKey', secretKey) },
      });
    }
  }
}
