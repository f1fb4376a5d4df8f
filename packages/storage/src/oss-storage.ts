import { createHash, createHmac } from 'node:crypto';
import { isIP } from 'node:net';
import OSS from 'ali-oss';
import { bodySize, digestBody, normalizeEtag } from './body-digest.js';
import { signedUrlWindow } from './signed-url.js';
import {
  StorageError,
  type StorageFailureCode,
  type PutBody,
  type SignedUrlOptions,
  type StorageAdapter,
  type StoredObject,
} from './storage-adapter.js';

const MIB = 1024 * 1024;
/** OSS rejects CompleteMultipartUpload when a part other than the last is under 100 KB. */
export const OSS_MIN_PART_SIZE = 100 * 1024;

export interface OssStorageOptions {
  bucket: string;
  /** e.g. `oss-cn-hangzhou` (the `oss-` prefix is optional). */
  region: string;
  /** Scheme and host, e.g. `https://oss-cn-hangzhou-internal.aliyuncs.com` or a custom domain with cname. */
  endpoint?: string;
  cname?: boolean;
  secure?: boolean;
  /** OSS4-HMAC-SHA256 signatures; the V1 (HMAC-SHA1) scheme is the default. */
  authorizationV4?: boolean;
  credentials: { accessKeyId: string; accessKeySecret: string; stsToken?: string };
  multipartThresholdBytes?: number;
  partSizeBytes?: number;
  timeoutMs?: number;
}

/** Aliyun Object Storage Service through ali-oss. */
export class OssStorage implements StorageAdapter {
  readonly kind = 'oss';
  readonly client: OSS;
  private readonly threshold: number;
  private readonly partSize: number;
  private readonly timeout: number;

  private readonly region: string;

  constructor(private readonly options: OssStorageOptions) {
    this.threshold = options.multipartThresholdBytes ?? 16 * MIB;
    this.partSize = Math.max(options.partSizeBytes ?? 8 * MIB, OSS_MIN_PART_SIZE);
    this.timeout = options.timeoutMs ?? 30_000;
    const region = options.region.startsWith('oss-') ? options.region : `oss-${options.region}`;
    this.region = region;
    this.client = new OSS({
      bucket: options.bucket,
      region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      cname: options.cname ?? false,
      secure: options.secure ?? true,
      authorizationV4: options.authorizationV4 ?? false,
      accessKeyId: options.credentials.accessKeyId,
      accessKeySecret: options.credentials.accessKeySecret,
      ...(options.credentials.stsToken ? { stsToken: options.credentials.stsToken } : {}),
      timeout: this.timeout,
      // Retries belong to the recording uploader.
      retryMax: 0,
    } as OSS.Options);
  }

  locate(key: string): string {
    const path = key.split('/').map(encodeURIComponent).join('/');
    const { endpoint, cname, bucket } = this.options;
    if (!endpoint) return `https://${bucket}.${this.region}.aliyuncs.com/${path}`;
    const base = new URL(endpoint);
    const root = `${base.protocol}//${base.host}`;
    if (cname) return `${root}/${path}`;
    // An IP endpoint cannot carry the bucket as a subdomain; name it in the path instead.
    if (isIP(base.hostname) || base.hostname === 'localhost') return `${root}/${bucket}/${path}`;
    return `${base.protocol}//${bucket}.${base.host}/${path}`;
  }

  /**
   * A query-signed GET URL, V1 (`OSSAccessKeyId`/`Expires`/`Signature`) or, with `authorizationV4`, V4
   * (`x-oss-signature-version=OSS4-HMAC-SHA256`). Signed here rather than by ali-oss: its
   * `signatureUrl` refuses IP endpoints and builds a different host than `locate` for custom endpoints,
   * while the URL must name exactly the resource that was signed.
   */
  async signedReadUrl(key: string, options: SignedUrlOptions): Promise<string> {
    const { start, seconds, deadline } = signedUrlWindow(options);
    const { bucket, credentials } = this.options;
    const base = this.locate(key);
    if (!this.options.authorizationV4) {
      // V1: the signature covers the expiry instant and the resource; an STS token is a sub-resource.
      const token = credentials.stsToken;
      const resource = `/${bucket}/${key}${token ? `?security-token=${token}` : ''}`;
      const stringToSign = `GET\n\n\n${deadline}\n${resource}`;
      const signature = createHmac('sha1', credentials.accessKeySecret)
        .update(stringToSign, 'utf8')
        .digest('base64');
      const query = new URLSearchParams({
        OSSAccessKeyId: credentials.accessKeyId,
        Expires: String(deadline),
        Signature: signature,
        ...(token ? { 'security-token': token } : {}),
      });
      return `${base}?${query.toString()}`;
    }
    const region = this.region.replace(/^oss-/, '');
    const stamp = start
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, '');
    const day = stamp.slice(0, 8);
    const params: Record<string, string> = {
      'x-oss-credential': `${credentials.accessKeyId}/${day}/${region}/oss/aliyun_v4_request`,
      'x-oss-date': stamp,
      'x-oss-expires': String(seconds),
      'x-oss-signature-version': 'OSS4-HMAC-SHA256',
      ...(credentials.stsToken ? { 'x-oss-security-token': credentials.stsToken } : {}),
    };
    const canonicalQuery = Object.keys(params)
      .sort()
      .map((k) => `${rfc3986(k)}=${rfc3986(params[k]!)}`)
      .join('&');
    // No headers are signed: a browser's GET must match whatever headers it chooses to send.
    const canonicalRequest = [
      'GET',
      rfc3986(`/${bucket}/${key}`).replace(/%2F/g, '/'),
      canonicalQuery,
      '',
      '',
      'UNSIGNED-PAYLOAD',
    ].join('\n');
    const stringToSign = [
      'OSS4-HMAC-SHA256',
      stamp,
      `${day}/${region}/oss/aliyun_v4_request`,
      createHash('sha256').update(canonicalRequest).digest('hex'),
    ].join('\n');
    let signingKey = createHmac('sha256', `aliyun_v4${credentials.accessKeySecret}`).update(day).digest();
    for (const part of [region, 'oss', 'aliyun_v4_request']) {
      signingKey = createHmac('sha256', signingKey).update(part).digest();
    }
    const signature = createHmac('sha256', signingKey).update(stringToSign).digest('hex');
    return `${base}?${canonicalQuery}&x-oss-signature=${signature}`;
  }

  async put(key: string, body: PutBody): Promise<StoredObject> {
    try {
      const size = await bodySize(body);
      const multipart = size > this.threshold;
      const digest = await digestBody(body, 0, multipart);
      const md5Hex = digest.md5.toString('hex');
      const source = body.data ?? body.filePath!;
      if (!multipart) {
        const out = await this.client.put(key, source, {
          mime: body.contentType,
          timeout: this.timeout,
          // ali-oss adds Content-MD5 for buffers but not for files; OSS then rejects a damaged body.
          headers: { 'Content-MD5': digest.md5.toString('base64') },
        } as OSS.PutObjectOptions);
        const etag = headerOf(out.res, 'etag');
        if (normalizeEtag(etag) !== md5Hex) {
          throw new StorageError(
            'STORAGE_INTEGRITY',
            `oss put ${key}: ETag ${etag ?? '(none)'} does not match the content MD5 ${md5Hex}`,
          );
        }
      } else {
        // A multipart object's ETag is opaque on OSS; the whole-object CRC-64 is what it vouches for.
        await this.client.multipartUpload(key, source, {
          partSize: this.partSize,
          parallel: 4,
          mime: body.contentType,
          timeout: this.timeout,
        });
      }
      const stored = await this.statObject(key);
      if (!stored || stored.bytes !== size) {
        throw new StorageError(
          'STORAGE_INTEGRITY',
          `oss put ${key}: store holds ${stored ? `${stored.bytes} bytes` : 'nothing'} of ${size}`,
        );
      }
      if (multipart && stored.crc64 !== undefined && stored.crc64 !== digest.crc64) {
        throw new StorageError(
          'STORAGE_INTEGRITY',
          `oss put ${key}: stored CRC-64 ${stored.crc64} does not match the content (${digest.crc64})`,
        );
      }
      return { key, bytes: size, md5: md5Hex };
    } catch (err) {
      throw toOssStorageError(err, `oss put ${key}`);
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    if (!(await this.statObject(key))) return undefined;
    try {
      const out = await this.client.get(key, { timeout: this.timeout } as OSS.GetObjectOptions);
      return Buffer.isBuffer(out.content) ? out.content : Buffer.from(out.content as string);
    } catch (err) {
      throw toOssStorageError(err, `oss get ${key}`);
    }
  }

  async head(key: string): Promise<StoredObject | undefined> {
    const stored = await this.statObject(key);
    if (!stored) return undefined;
    return { key, bytes: stored.bytes, ...(stored.md5 ? { md5: stored.md5 } : {}) };
  }

  private async statObject(
    key: string,
  ): Promise<{ bytes: number; md5?: string; crc64?: string } | undefined> {
    try {
      const out = await this.client.head(key, { timeout: this.timeout } as OSS.HeadObjectOptions);
      const etag = normalizeEtag(headerOf(out.res, 'etag'));
      const crc = headerOf(out.res, 'x-oss-hash-crc64ecma');
      return {
        bytes: Number(headerOf(out.res, 'content-length') ?? 0),
        ...(etag && /^[0-9a-f]{32}$/.test(etag) ? { md5: etag } : {}),
        ...(crc ? { crc64: crc } : {}),
      };
    } catch (err) {
      // ali-oss reports every bodiless HEAD 404 as NoSuchKey (it ignores x-oss-err there), so a missing
      // bucket also reads as a missing object; put/list report NoSuchBucket properly.
      if ((err as OssSdkError).code === 'NoSuchKey') return undefined;
      throw toOssStorageError(err, `oss head ${key}`);
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    let marker: string | undefined;
    try {
      do {
        // An empty prefix is left out: V4 signs `prefix` and `prefix=` differently.
        const query: OSS.ListObjectsQuery = { 'max-keys': 1000 };
        if (prefix) query.prefix = prefix;
        if (marker) query.marker = marker;
        const page = await this.client.list(query, { timeout: this.timeout });
        for (const obj of page.objects ?? []) {
          const etag = normalizeEtag(obj.etag);
          out.push({
            key: obj.name,
            bytes: obj.size,
            ...(etag && /^[0-9a-f]{32}$/.test(etag) ? { md5: etag } : {}),
          });
        }
        marker = page.isTruncated ? page.nextMarker : undefined;
      } while (marker);
    } catch (err) {
      throw toOssStorageError(err, `oss list ${prefix}`);
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.delete(key, { timeout: this.timeout });
    } catch (err) {
      throw toOssStorageError(err, `oss delete ${key}`);
    }
  }
}

/** RFC 3986 percent-encoding, as OSS V4 canonicalizes URIs and query strings. */
function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function headerOf(res: unknown, name: string): string | undefined {
  const headers = (res as { headers?: Record<string, string | string[] | undefined> } | undefined)?.headers;
  const value = headers?.[name];
  return Array.isArray(value) ? value[0] : value;
}

interface OssSdkError {
  name?: string;
  code?: string;
  status?: number;
  message?: string;
}

const AUTH_CODES = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'InvalidSecurityToken',
  'SecurityTokenExpired',
]);
const THROTTLE_CODES = new Set([
  'QpsLimitExceeded',
  'ServerBusy',
  'RequestRateLimitExceeded',
  'TooManyRequests',
]);

/** OSS answers carry `<Code>` (ali-oss copies it to err.code); network faults have status -1/-2. */
export function toOssStorageError(err: unknown, what: string): StorageError {
  if (err instanceof StorageError) return err;
  const e = (err ?? {}) as OssSdkError;
  const code = e.code ?? '';
  const status = typeof e.status === 'number' ? e.status : undefined;
  const detail = `${what}: ${code || e.name || 'error'}${status && status > 0 ? ` (HTTP ${status})` : ''}: ${e.message ?? String(err)}`;
  const make = (code: StorageFailureCode): StorageError => new StorageError(code, detail, { cause: err });
  if (AUTH_CODES.has(code) || status === 401 || status === 403) return make('STORAGE_AUTH_FAILED');
  if (code === 'NoSuchBucket') return make('STORAGE_BUCKET_NOT_FOUND');
  if (THROTTLE_CODES.has(code) || status === 429 || status === 503) return make('STORAGE_THROTTLED');
  if (
    status === -2 ||
    e.name === 'ResponseTimeoutError' ||
    e.name === 'ConnectionTimeoutError' ||
    code === 'RequestTimeout'
  ) {
    return make('STORAGE_TIMEOUT');
  }
  if (code === 'InvalidDigest' || code === 'BadDigest') return make('STORAGE_INTEGRITY');
  if (status !== undefined && status >= 500) return make('STORAGE_WRITE_FAILED');
  if (status !== undefined && status >= 400) return make('STORAGE_REFUSED');
  return make('STORAGE_WRITE_FAILED');
}
