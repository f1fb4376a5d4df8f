import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import qiniu from 'qiniu';
import { bodySize, digestBody } from './body-digest.js';
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
/** Qiniu's etag block size, fixed by the service. */
export const QINIU_BLOCK_SIZE = 4 * MIB;

/**
 * Qiniu's content hash ("qetag"): for up to one 4 MiB block, 0x16 + SHA1(data); above, 0x96 + SHA1 of
 * the concatenated per-block SHA1s; URL-safe base64 either way. Takes a buffer or a file path.
 */
export async function qiniuEtag(input: Buffer | string): Promise<string> {
  const blockHashes: Buffer[] = [];
  let block = createHash('sha1');
  let inBlock = 0;
  const feed = (chunk: Buffer): void => {
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(QINIU_BLOCK_SIZE - inBlock, chunk.length - offset);
      block.update(chunk.subarray(offset, offset + take));
      inBlock += take;
      offset += take;
      if (inBlock === QINIU_BLOCK_SIZE) {
        blockHashes.push(block.digest());
        block = createHash('sha1');
        inBlock = 0;
      }
    }
  };
  if (Buffer.isBuffer(input)) feed(input);
  else for await (const chunk of createReadStream(input)) feed(chunk as Buffer);
  // An empty body still has one (empty) block.
  if (inBlock > 0 || blockHashes.length === 0) blockHashes.push(block.digest());
  const out =
    blockHashes.length === 1
      ? Buffer.concat([Buffer.from([0x16]), blockHashes[0]!])
      : Buffer.concat([Buffer.from([0x96]), createHash('sha1').update(Buffer.concat(blockHashes)).digest()]);
  return out.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

export interface QiniuStorageOptions {
  bucket: string;
  /** Region id (z0, z1, z2, na0, as0, cn-east-2...) for Qiniu's public hosts. */
  region?: string;
  /** Explicit hosts (private deployments, tests): `host[:port]` or a URL with scheme. */
  upHost?: string;
  rsHost?: string;
  rsfHost?: string;
  apiHost?: string;
  useHttps?: boolean;
  credentials: { accessKey: string; secretKey: string };
  multipartThresholdBytes?: number;
  /** Upload-token lifetime. */
  tokenTtlSeconds?: number;
  timeoutMs?: number;
  /**
   * The bucket's bound download domain (`https://cdn.example.com`), for `locate` and signed URLs; Kodo
   * serves objects only through a domain bound to the bucket. Without it, `locate` gives a
   * `qiniu://bucket/key` reference and no signed URL can be made.
   */
  downloadBaseUrl?: string;
}

interface QiniuResult {
  data?: {
    error?: string;
    hash?: string;
    key?: string;
    fsize?: number;
    items?: QiniuItem[];
    marker?: string;
  };
  resp?: { statusCode?: number };
}
interface QiniuItem {
  key: string;
  fsize?: number;
  hash?: string;
}

/** Qiniu Kodo through the qiniu SDK 7.x (promise style only: its callbacks leak unhandled rejections). */
export class QiniuStorage implements StorageAdapter {
  readonly kind = 'qiniu';
  private readonly mac: qiniu.auth.digest.Mac;
  private readonly config: qiniu.conf.Config;
  private readonly buckets: qiniu.rs.BucketManager;
  private readonly bucket: string;
  private readonly threshold: number;
  private readonly timeout: number;

  constructor(private readonly options: QiniuStorageOptions) {
    this.bucket = options.bucket;
    this.threshold = options.multipartThresholdBytes ?? 16 * MIB;
    this.timeout = options.timeoutMs ?? 30_000;
    const useHttps = options.useHttps ?? true;
    this.mac = new qiniu.auth.digest.Mac(options.credentials.accessKey, options.credentials.secretKey);
    this.config = new qiniu.conf.Config({ useHttpsDomain: useHttps, regionsProvider: buildRegion(options) });
    this.buckets = new qiniu.rs.BucketManager(this.mac, this.config);
    if ([options.rsHost, options.rsfHost].some((h) => h !== undefined && hasExplicitPort(h))) {
      resignWithoutHost(this.buckets, this.mac);
    }
  }

  locate(key: string): string {
    const path = key.split('/').map(encodeURIComponent).join('/');
    if (this.options.downloadBaseUrl) return `${this.options.downloadBaseUrl.replace(/\/$/, '')}/${path}`;
    return `qiniu://${this.bucket}/${path}`;
  }

  /**
   * A private-bucket download URL: `<domain>/<key>?e=<deadline>&token=<AK>:<urlsafe-b64(HMAC-SHA1(SK,
   * url-up-to-e))>`, made by the SDK's own signer so the key is encoded as Qiniu expects.
   */
  async signedReadUrl(key: string, options: SignedUrlOptions): Promise<string> {
    const { deadline } = signedUrlWindow(options);
    const domain = this.options.downloadBaseUrl?.replace(/\/+$/, '');
    if (!domain) {
      throw new StorageError(
        'STORAGE_CONFIG_INVALID',
        `qiniu sign ${key}: set downloadBaseUrl (a domain bound to bucket ${this.bucket}); Qiniu serves downloads only through one`,
      );
    }
    return this.buckets.privateDownloadUrl(domain, key, deadline);
  }

  private uploadToken(key: string): string {
    // `bucket:key` scope lets the same key be overwritten (the playlist is rewritten on every segment).
    const policy = new qiniu.rs.PutPolicy({
      scope: `${this.bucket}:${key}`,
      expires: this.options.tokenTtlSeconds ?? 3600,
    });
    return policy.uploadToken(this.mac);
  }

  async put(key: string, body: PutBody): Promise<StoredObject> {
    try {
      const size = await bodySize(body);
      const digest = await digestBody(body);
      const expectedHash = await qiniuEtag(body.data ?? body.filePath!);
      const token = this.uploadToken(key);
      let result: QiniuResult;
      if (size <= this.threshold) {
        const uploader = new qiniu.form_up.FormUploader(this.config);
        // checkCrc: the up host rejects a body whose CRC32 differs from the one we computed (406).
        const extra = new qiniu.form_up.PutExtra('', {}, body.contentType, undefined, true);
        result = await this.withTimeout(
          body.data
            ? uploader.put(token, key, body.data, extra)
            : uploader.putFile(token, key, body.filePath!, extra),
          `qiniu put ${key}`,
        );
      } else {
        const uploader = new qiniu.resume_up.ResumeUploader(this.config);
        // 4 MiB parts keep the returned hash equal to the qetag of the content; other part sizes do not.
        const extra = qiniu.resume_up.PutExtra.create(
          '',
          {},
          body.contentType,
          undefined,
          undefined,
          QINIU_BLOCK_SIZE,
          'v2',
        );
        result = await this.withTimeout(
          body.data
            ? uploader.putStream(token, key, Readable.from([body.data]), size, extra)
            : uploader.putFile(token, key, body.filePath!, extra),
          `qiniu put ${key}`,
        );
      }
      checkResult(result, `qiniu put ${key}`);
      const hash = result.data?.hash;
      if (hash !== expectedHash) {
        throw new StorageError(
          'STORAGE_INTEGRITY',
          `qiniu put ${key}: hash ${hash ?? '(none)'} does not match the content (${expectedHash})`,
        );
      }
      const stored = await this.statObject(key);
      if (!stored || stored.fsize !== size || stored.hash !== expectedHash) {
        throw new StorageError(
          'STORAGE_INTEGRITY',
          `qiniu put ${key}: store holds ${stored ? `${stored.fsize} bytes, hash ${stored.hash}` : 'nothing'}, expected ${size} bytes`,
        );
      }
      return { key, bytes: size, md5: digest.md5.toString('hex') };
    } catch (err) {
      throw toQiniuStorageError(err, `qiniu put ${key}`);
    }
  }

  async head(key: string): Promise<StoredObject | undefined> {
    const stored = await this.statObject(key);
    return stored ? { key, bytes: stored.fsize } : undefined;
  }

  private async statObject(key: string): Promise<{ fsize: number; hash: string } | undefined> {
    try {
      const result: QiniuResult = await this.withTimeout(
        this.buckets.stat(this.bucket, key),
        `qiniu stat ${key}`,
      );
      if (result.resp?.statusCode === 612) return undefined;
      checkResult(result, `qiniu stat ${key}`);
      return { fsize: Number(result.data?.fsize ?? 0), hash: String(result.data?.hash ?? '') };
    } catch (err) {
      throw toQiniuStorageError(err, `qiniu stat ${key}`);
    }
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    let marker: string | undefined;
    try {
      do {
        const result: QiniuResult = await this.withTimeout(
          this.buckets.listPrefix(this.bucket, { prefix, limit: 1000, ...(marker ? { marker } : {}) }),
          `qiniu list ${prefix}`,
        );
        checkResult(result, `qiniu list ${prefix}`);
        for (const item of result.data?.items ?? []) out.push({ key: item.key, bytes: item.fsize ?? 0 });
        marker = result.data?.marker || undefined;
      } while (marker);
    } catch (err) {
      throw toQiniuStorageError(err, `qiniu list ${prefix}`);
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    try {
      const result: QiniuResult = await this.withTimeout(
        this.buckets.delete(this.bucket, key),
        `qiniu delete ${key}`,
      );
      // Deleting what is already gone is success, as on the other stores.
      if (result.resp?.statusCode === 612) return;
      checkResult(result, `qiniu delete ${key}`);
    } catch (err) {
      throw toQiniuStorageError(err, `qiniu delete ${key}`);
    }
  }

  /**
   * The SDK's only timeout is a process-wide 600 s (conf.RPC_TIMEOUT) and its calls cannot be aborted,
   * so the per-attempt limit is enforced here; the abandoned request finishes or fails on its own.
   */
  private withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new StorageError('STORAGE_TIMEOUT', `${what}: no answer within ${this.timeout} ms`)),
        this.timeout,
      );
    });
    // Keep a late rejection of the abandoned call from surfacing as unhandled.
    promise.catch(() => undefined);
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }
}

function splitHost(value: string, useHttps: boolean): qiniu.httpc.Endpoint {
  const m = /^(https?):\/\/(.+?)\/?$/.exec(value);
  const scheme = m ? m[1]! : useHttps ? 'https' : 'http';
  return new qiniu.httpc.Endpoint(m ? m[2]! : value, { defaultScheme: scheme });
}

function hasExplicitPort(value: string): boolean {
  return /:\d+\/?$/.test(value.replace(/^https?:\/\//, ''));
}

function buildRegion(options: QiniuStorageOptions): qiniu.httpc.Region {
  const useHttps = options.useHttps ?? true;
  const explicit: Partial<Record<qiniu.httpc.SERVICE_NAME, string | undefined>> = {
    [qiniu.httpc.SERVICE_NAME.UP]: options.upHost,
    [qiniu.httpc.SERVICE_NAME.RS]: options.rsHost,
    [qiniu.httpc.SERVICE_NAME.RSF]: options.rsfHost,
    [qiniu.httpc.SERVICE_NAME.API]: options.apiHost,
  };
  // Without an explicit region the SDK asks Qiniu's public uc hosts where the bucket lives: slow, and
  // impossible offline or on a private deployment.
  const base = options.region
    ? qiniu.httpc.Region.fromRegionId(options.region, { preferredScheme: useHttps ? 'https' : 'http' })
    : undefined;
  const services: Record<string, qiniu.httpc.Endpoint[]> = { ...(base?.services ?? {}) };
  for (const [service, host] of Object.entries(explicit)) {
    if (host) services[service] = [splitHost(host, useHttps)];
  }
  return new qiniu.httpc.Region({ regionId: options.region ?? 'custom', services });
}

/**
 * The SDK's "Qiniu" (V2) management signature appends the port to a host that already carries it
 * ("Host: h:9000:9000"), so every management call to an endpoint with an explicit port is refused.
 * For those endpoints the request is signed with the host-independent QBox scheme, which the service
 * also accepts; the default-port public hosts keep the SDK's own signature.
 */
function resignWithoutHost(buckets: qiniu.rs.BucketManager, mac: qiniu.auth.digest.Mac): void {
  const client = (buckets as unknown as { _httpClient?: { middlewares?: unknown[] } })._httpClient;
  if (!client?.middlewares) return;
  client.middlewares.push({
    send(
      req: {
        url: string;
        urllibOptions: { headers: Record<string, string>; content?: string; contentType?: string };
      },
      next: (r: unknown) => Promise<unknown>,
    ) {
      const form =
        !req.urllibOptions.contentType ||
        req.urllibOptions.contentType === 'application/x-www-form-urlencoded';
      const body =
        form && typeof req.urllibOptions.content === 'string' ? req.urllibOptions.content : undefined;
      req.urllibOptions.headers.Authorization = qiniu.util.generateAccessToken(mac, req.url, body);
      return next(req);
    },
  });
}

function checkResult(result: QiniuResult, what: string): void {
  const status = result.resp?.statusCode ?? 0;
  if (status === 200) return;
  throw qiniuStatusError(status, result.data?.error, what);
}

export class QiniuHttpError extends Error {
  constructor(
    readonly status: number,
    readonly serviceError: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'QiniuHttpError';
  }
}

function qiniuStatusError(status: number, error: string | undefined, what: string): QiniuHttpError {
  return new QiniuHttpError(
    status,
    error,
    `${what}: HTTP ${status}${error ? ` ${JSON.stringify(error)}` : ''}`,
  );
}

/**
 * Qiniu's documented status codes: 401 bad token/signature, 631 no such bucket, 612 no such file,
 * 573 (and 503/429) too many requests, 406 CRC32 mismatch, 579 callback failure, 599 server error.
 */
export function toQiniuStorageError(err: unknown, what: string): StorageError {
  if (err instanceof StorageError) return err;
  if (err instanceof QiniuHttpError) {
    const make = (code: StorageFailureCode): StorageError =>
      new StorageError(code, err.message, { cause: err });
    const s = err.status;
    if (s === 401 || s === 403) return make('STORAGE_AUTH_FAILED');
    if (s === 631) return make('STORAGE_BUCKET_NOT_FOUND');
    if (s === 573 || s === 503 || s === 429) return make('STORAGE_THROTTLED');
    if (s === 406 || /md5|crc32/i.test(err.serviceError ?? '')) return make('STORAGE_INTEGRITY');
    if (s >= 500) return make('STORAGE_WRITE_FAILED');
    return make('STORAGE_REFUSED');
  }
  const e = (err ?? {}) as { name?: string; code?: string; message?: string };
  const message = `${what}: ${e.name ?? 'error'}: ${e.message ?? String(err)}`;
  if (/timeout/i.test(e.name ?? '') || e.code === 'ETIMEDOUT') {
    return new StorageError('STORAGE_TIMEOUT', message, { cause: err });
  }
  // Connection refused/reset and the like: the network may come back.
  return new StorageError('STORAGE_WRITE_FAILED', message, { cause: err });
}
