import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { bodySize, digestBody, multipartEtag, normalizeEtag } from './body-digest.js';
import { signedUrlWindow } from './signed-url.js';
import {
  StorageError,
  type StorageFailureCode,
  type PutBody,
  type SignedUrlOptions,
  type StorageAdapter,
  type StoredObject,
} from './storage-adapter.js';

export const MIB = 1024 * 1024;
/** S3's own lower bound for every part but the last. */
export const S3_MIN_PART_SIZE = 5 * MIB;

export interface S3StorageOptions {
  bucket: string;
  region: string;
  /** For S3-compatible stores (MinIO, Ceph, s3rver...); omit for AWS. */
  endpoint?: string;
  forcePathStyle?: boolean;
  /**
   * The SDK's flexible checksums. AWS supports them (WHEN_SUPPORTED); many S3-compatible servers store
   * the aws-chunked framing as object data instead, so use WHEN_REQUIRED for them. Integrity is checked
   * with Content-MD5 and the ETag either way.
   */
  checksumMode?: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  multipartThresholdBytes?: number;
  partSizeBytes?: number;
  requestTimeoutMs?: number;
}

/** Commands whose bodies are objects' content (verified by MD5/ETag, see the constructor). */
const UNSIGNED_BODY_COMMANDS = new Set(['PutObjectCommand', 'UploadPartCommand']);

/** Amazon S3 and S3-compatible object stores. */
export class S3Storage implements StorageAdapter {
  readonly kind = 's3';
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly threshold: number;
  private readonly partSize: number;

  constructor(private readonly options: S3StorageOptions) {
    this.bucket = options.bucket;
    this.partSize = Math.max(options.partSizeBytes ?? 8 * MIB, S3_MIN_PART_SIZE);
    this.threshold = options.multipartThresholdBytes ?? 16 * MIB;
    const checksumMode = options.checksumMode ?? (options.endpoint ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED');
    const timeout = options.requestTimeoutMs ?? 30_000;
    this.client = new S3Client({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.forcePathStyle ?? false,
      credentials: options.credentials,
      requestChecksumCalculation: checksumMode,
      responseChecksumValidation: checksumMode,
      // The recording uploader owns retries (with its own backoff and fencing); SDK retries would
      // multiply them and hide how long one attempt really took.
      maxAttempts: 1,
      requestHandler: { requestTimeout: timeout, connectionTimeout: timeout },
    });
    this.client.middlewareStack.add(
      (next, context) => (args) => {
        // Object bodies are not hashed (SHA-256) for the signature: their integrity is checked with
        // Content-MD5 and the ETag already, and a second full hash of every segment would cost about
        // as much CPU again. The signature still covers the headers, Content-MD5 among them.
        const request = args.request as { headers?: Record<string, string> };
        if (UNSIGNED_BODY_COMMANDS.has(context.commandName ?? '') && request.headers) {
          request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
        }
        return next(args);
      },
      { step: 'build', name: 'recfleetUnsignedPayload' },
    );
  }

  locate(key: string): string {
    const path = key.split('/').map(encodeURIComponent).join('/');
    if (!this.options.endpoint)
      return `https://${this.bucket}.s3.${this.options.region}.amazonaws.com/${path}`;
    const base = new URL(this.options.endpoint);
    const root = base.href.replace(/\/$/, '');
    if (this.options.forcePathStyle) return `${root}/${this.bucket}/${path}`;
    return `${base.protocol}//${this.bucket}.${base.host}${base.pathname.replace(/\/$/, '')}/${path}`;
  }

  /** A SigV4 query-presigned GetObject URL (`X-Amz-Signature`), signed locally: no request is made. */
  async signedReadUrl(key: string, options: SignedUrlOptions): Promise<string> {
    const { start, seconds } = signedUrlWindow(options);
    try {
      return await getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
        expiresIn: seconds,
        signingDate: start,
      });
    } catch (err) {
      throw toStorageError(err, `s3 sign ${key}`);
    }
  }

  async put(key: string, given: PutBody): Promise<StoredObject> {
    try {
      const statedSize = await bodySize(given);
      const multipart = statedSize > this.threshold;
      // A single-part file (a segment: a few MB) is read once, into memory, then hashed and sent from
      // those bytes: streaming it from disk twice, once to hash it and once to send it, cost more CPU
      // than the hash itself.
      const body: PutBody =
        !multipart && given.filePath && !given.data
          ? { data: await readFile(given.filePath), contentType: given.contentType }
          : given;
      const size = body.data ? body.data.length : statedSize;
      const digest = await digestBody(body, multipart ? this.partSize : 0);
      const md5Hex = digest.md5.toString('hex');
      let etag: string | undefined;
      if (!multipart) {
        const out = await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: body.data ?? createReadStream(body.filePath!),
            ContentLength: size,
            ContentType: body.contentType,
            // The store rejects a body that does not match (BadDigest) instead of keeping it.
            ContentMD5: digest.md5.toString('base64'),
          }),
        );
        etag = out.ETag;
      } else {
        const upload = new Upload({
          client: this.client,
          params: {
            Bucket: this.bucket,
            Key: key,
            Body: body.data ?? createReadStream(body.filePath!),
            ContentType: body.contentType,
          },
          partSize: this.partSize,
          queueSize: 4,
          leavePartsOnError: false,
        });
        const out = await upload.done();
        etag = out.ETag;
      }
      const got = normalizeEtag(etag);
      // Upload falls back to a single PutObject for bodies under one part; then the ETag is the MD5.
      const expected = got?.includes('-') ? multipartEtag(digest.partMd5s) : md5Hex;
      if (got !== expected) {
        throw new StorageError(
          'STORAGE_INTEGRITY',
          `s3 put ${key}: ETag ${etag ?? '(none)'} does not match the content (${expected})`,
        );
      }
      // A single-part object whose ETag equals the MD5 we computed is exactly our bytes: the server
      // checked Content-MD5 on the way in and reports the digest of what it stored. Only multipart
      // objects (whose ETag is a digest of digests) need a HEAD to confirm their size.
      if (!got?.includes('-')) return { key, bytes: size, md5: md5Hex };
      const stored = await this.head(key);
      if (!stored || stored.bytes !== size) {
        throw new StorageError(
          'STORAGE_INTEGRITY',
          `s3 put ${key}: store holds ${stored ? `${stored.bytes} bytes` : 'nothing'} of ${size}`,
        );
      }
      return { key, bytes: size, md5: md5Hex };
    } catch (err) {
      throw toStorageError(err, `s3 put ${key}`);
    }
  }

  async head(key: string): Promise<StoredObject | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      const etag = normalizeEtag(out.ETag);
      return {
        key,
        bytes: out.ContentLength ?? 0,
        ...(etag && /^[0-9a-f]{32}$/.test(etag) ? { md5: etag } : {}),
      };
    } catch (err) {
      // HEAD answers carry no body, so a missing bucket also looks like a plain 404 here.
      if (statusOf(err) === 404) return undefined;
      throw toStorageError(err, `s3 head ${key}`);
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!out.Body) return undefined;
      return Buffer.from(await out.Body.transformToByteArray());
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw toStorageError(err, `s3 get ${key}`);
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const item of page.Contents ?? []) {
          if (item.Key === undefined) continue;
          const etag = normalizeEtag(item.ETag);
          out.push({
            key: item.Key,
            bytes: item.Size ?? 0,
            ...(etag && /^[0-9a-f]{32}$/.test(etag) ? { md5: etag } : {}),
          });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw toStorageError(err, `s3 list ${prefix}`);
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      throw toStorageError(err, `s3 delete ${key}`);
    }
  }

  close(): void {
    this.client.destroy();
  }
}

interface SdkError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

function statusOf(err: unknown): number | undefined {
  const e = err as SdkError;
  return e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode;
}

const AUTH_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'Forbidden',
]);
const THROTTLE_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequests',
]);
const TIMEOUT_CODES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'ETIMEDOUT']);
const DIGEST_CODES = new Set(['BadDigest', 'InvalidDigest', 'XAmzContentSHA256Mismatch']);

/** Sorts an SDK failure into the fleet's codes: the user's 4xx fail fast, transient faults are retried. */
export function toStorageError(err: unknown, what: string): StorageError {
  if (err instanceof StorageError) return err;
  const e = (err ?? {}) as SdkError;
  const name = e.Code ?? e.name ?? '';
  const status = statusOf(err);
  const detail = `${what}: ${name || 'error'}${status ? ` (HTTP ${status})` : ''}: ${e.message ?? String(err)}`;
  const make = (code: StorageFailureCode): StorageError => new StorageError(code, detail, { cause: err });
  if (AUTH_CODES.has(name) || status === 401 || status === 403) return make('STORAGE_AUTH_FAILED');
  if (name === 'NoSuchBucket') return make('STORAGE_BUCKET_NOT_FOUND');
  if (THROTTLE_CODES.has(name) || status === 429 || status === 503) return make('STORAGE_THROTTLED');
  if (TIMEOUT_CODES.has(name) || TIMEOUT_CODES.has(e.code ?? '')) return make('STORAGE_TIMEOUT');
  if (DIGEST_CODES.has(name)) return make('STORAGE_INTEGRITY');
  if (status !== undefined && status >= 500) return make('STORAGE_WRITE_FAILED');
  if (status !== undefined && status >= 400) return make('STORAGE_REFUSED');
  // No HTTP answer at all: connection refused/reset, DNS. The network may come back.
  return make('STORAGE_WRITE_FAILED');
}
