import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32 } from 'node:zlib';
import { qiniuEtag } from '@recfleet/storage';
import { flipByte, noFaults, readBody, type StoreFaults } from './fake-http.js';

/**
 * An in-memory Qiniu Kodo: up host (form upload, resumable v2) and rs/rsf hosts (stat, delete, list) on
 * one port. Upload tokens and management signatures (`Qiniu` V2 and `QBox`) are recomputed and compared
 * as the service does; answers use Qiniu's status codes and `{"error": ...}` bodies. With
 * `downloadBucket`, a second port plays that private bucket's bound download domain: GET/HEAD
 * `/<key>?e=<deadline>&token=<AK>:<sign>` is served only when the token signs the URL as requested
 * (scheme, Host, path and query up to `&token=`) and the deadline has not passed, else 401.
 */
export interface QiniuTestServerOptions {
  accessKey: string;
  secretKey: string;
  buckets: string[];
  /** The bucket whose download domain is served on `downloadUrl`. */
  downloadBucket?: string;
}

export interface StoredQiniuObject {
  data: Buffer;
  hash: string;
  mimeType: string;
  putTime: number;
}

export interface QiniuTestServer {
  url: string;
  port: number;
  faults: StoreFaults;
  objects: Map<string, Map<string, StoredQiniuObject>>;
  requests: { method: string; path: string; auth: string }[];
  /** `http://127.0.0.1:<port>`: the download domain of `downloadBucket`, when one was asked for. */
  downloadUrl?: string;
  close(): Promise<void>;
}

interface Policy {
  scope: string;
  deadline: number;
}

class QiniuReject extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
  ) {
    super(error);
  }
}

const b64urlDecode = (s: string): Buffer => Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
const hmacB64url = (secret: string, data: string | Buffer): string =>
  createHmac('sha1', secret).update(data).digest('base64').replace(/\+/g, '-').replace(/\//g, '_');

export async function startQiniuTestServer(options: QiniuTestServerOptions): Promise<QiniuTestServer> {
  const faults = noFaults();
  const objects = new Map<string, Map<string, StoredQiniuObject>>(options.buckets.map((b) => [b, new Map()]));
  const uploads = new Map<
    string,
    { bucket: string; key: string; parts: Map<number, { data: Buffer; etag: string }> }
  >();
  const requests: QiniuTestServer['requests'] = [];

  const bucketOf = (name: string): Map<string, StoredQiniuObject> => {
    const b = objects.get(name);
    if (!b) throw new QiniuReject(631, 'no such bucket');
    return b;
  };

  /** Upload token: `AK:urlsafe-b64(HMAC-SHA1(SK, encodedPolicy)):encodedPolicy`. */
  const verifyUpToken = (token: string, bucket: string, key: string | undefined): void => {
    const [ak, sign, encodedPolicy, ...rest] = token.split(':');
    if (!ak || !sign || !encodedPolicy || rest.length > 0) throw new QiniuReject(401, 'bad token');
    if (ak !== options.accessKey || !safeEqual(hmacB64url(options.secretKey, encodedPolicy), sign)) {
      throw new QiniuReject(401, 'bad token');
    }
    let policy: Policy;
    try {
      policy = JSON.parse(b64urlDecode(encodedPolicy).toString('utf8')) as Policy;
    } catch {
      throw new QiniuReject(401, 'bad token');
    }
    if (typeof policy.deadline !== 'number' || policy.deadline < Date.now() / 1000) {
      throw new QiniuReject(401, 'expired token');
    }
    const colon = policy.scope.indexOf(':');
    const scopeBucket = colon < 0 ? policy.scope : policy.scope.slice(0, colon);
    if (bucket && scopeBucket !== bucket) throw new QiniuReject(401, 'bad token');
    bucketOf(scopeBucket);
    if (colon >= 0 && key !== undefined && policy.scope.slice(colon + 1) !== key) {
      throw new QiniuReject(403, "key doesn't match with scope");
    }
  };

  const scopeBucketOf = (token: string): string => {
    const encoded = token.split(':')[2] ?? '';
    try {
      const scope = String((JSON.parse(b64urlDecode(encoded).toString('utf8')) as Policy).scope ?? '');
      return scope.split(':')[0]!;
    } catch {
      throw new QiniuReject(401, 'bad token');
    }
  };

  /** Management requests: `Qiniu AK:sign` (V2) or `QBox AK:sign` (V1), checked like the rs/rsf hosts do. */
  const verifyManagement = (req: IncomingMessage, body: Buffer): void => {
    const auth = String(req.headers.authorization ?? '');
    const m = /^(Qiniu|QBox) ([^:]+):(.+)$/.exec(auth);
    if (!m) throw new QiniuReject(401, 'bad token');
    const [, scheme, ak, sign] = m;
    if (ak !== options.accessKey) throw new QiniuReject(401, 'bad token');
    const contentType = String(req.headers['content-type'] ?? '');
    const pathAndQuery = req.url ?? '/';
    let data: string;
    if (scheme === 'QBox') {
      data = `${pathAndQuery}\n${contentType === 'application/x-www-form-urlencoded' ? body.toString('utf8') : ''}`;
    } else {
      const qiniuHeaders = Object.keys(req.headers)
        .filter((k) => k.startsWith('x-qiniu-') && k.length > 'x-qiniu-'.length)
        .map((k) => [
          k
            .split('-')
            .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
            .join('-'),
          String(req.headers[k]),
        ])
        .sort(([a], [b]) => (a! < b! ? -1 : 1))
        .map(([k, v]) => `${k}: ${v}\n`)
        .join('');
      const includeBody =
        body.length > 0 &&
        (contentType === 'application/x-www-form-urlencoded' || contentType === 'application/json');
      data =
        `${req.method} ${pathAndQuery}\nHost: ${req.headers.host ?? ''}\n` +
        `${contentType ? `Content-Type: ${contentType}\n` : ''}${qiniuHeaders}\n${includeBody ? body.toString('utf8') : ''}`;
    }
    if (!safeEqual(hmacB64url(options.secretKey, data), sign!)) throw new QiniuReject(401, 'bad token');
  };

  const store = async (
    bucket: string,
    key: string,
    data: Buffer,
    mimeType: string,
  ): Promise<{ hash: string; key: string }> => {
    const hash = await qiniuEtag(data);
    bucketOf(bucket).set(key, { data, hash, mimeType, putTime: Date.now() * 10_000 });
    return { hash: faults.wrongEtag ? await qiniuEtag(flipByte(data)) : hash, key };
  };

  const route = async (req: IncomingMessage, body: Buffer): Promise<unknown> => {
    const url = new URL(req.url ?? '/', 'http://placeholder');
    const method = req.method ?? 'GET';
    const path = url.pathname;

    if (method === 'POST' && path === '/') {
      const form = parseMultipart(req, body);
      const token = form.fields.get('token') ?? '';
      const key = form.fields.get('key');
      if (!form.file) throw new QiniuReject(400, 'file is not specified in multipart');
      verifyUpToken(token, '', key);
      const data = faults.corruptBodies ? flipByte(form.file.data) : form.file.data;
      const crc = form.fields.get('crc32');
      if (crc !== undefined && Number(crc) !== crc32(data)) throw new QiniuReject(406, 'crc32 not match');
      if (key === undefined) throw new QiniuReject(400, 'key is required for this test server');
      return store(scopeBucketOf(token), key, data, form.file.contentType);
    }

    const resumable = /^\/buckets\/([^/]+)\/objects\/([^/]+)\/uploads(?:\/([^/]+)(?:\/(\d+))?)?$/.exec(path);
    if (resumable) {
      const [, bucket, encodedKey, uploadId, partNumber] = resumable;
      const key = encodedKey === '~' ? undefined : b64urlDecode(encodedKey!).toString('utf8');
      const auth = String(req.headers.authorization ?? '');
      if (!auth.startsWith('UpToken ')) throw new QiniuReject(401, 'bad token');
      verifyUpToken(auth.slice('UpToken '.length), bucket!, key);
      if (key === undefined) throw new QiniuReject(400, 'key is required for this test server');
      if (!uploadId && method === 'POST') {
        const id = randomBytes(12).toString('hex');
        uploads.set(id, { bucket: bucket!, key, parts: new Map() });
        return { uploadId: id, expireAt: Math.floor(Date.now() / 1000) + 7 * 86400 };
      }
      const upload = uploadId ? uploads.get(uploadId) : undefined;
      if (!upload || upload.bucket !== bucket || upload.key !== key)
        throw new QiniuReject(612, 'no such uploadId');
      if (method === 'PUT' && partNumber) {
        const data = faults.corruptBodies ? flipByte(body) : body;
        const md5 = createHash('md5').update(data).digest('hex');
        const sent = req.headers['content-md5'];
        if (typeof sent === 'string' && sent !== md5) throw new QiniuReject(400, 'Content-MD5 not match');
        const etag = await qiniuEtag(data);
        upload.parts.set(Number(partNumber), { data, etag });
        return { etag, md5 };
      }
      if (method === 'POST') {
        const { parts } = JSON.parse(body.toString('utf8')) as {
          parts: { etag: string; partNumber: number }[];
          mimeType?: string;
        };
        const chunks: Buffer[] = [];
        for (const p of parts) {
          const part = upload.parts.get(p.partNumber);
          if (!part || part.etag !== p.etag) throw new QiniuReject(400, `invalid part ${p.partNumber}`);
          chunks.push(part.data);
        }
        uploads.delete(uploadId!);
        const mime = (JSON.parse(body.toString('utf8')) as { mimeType?: string }).mimeType;
        return store(bucket!, key, Buffer.concat(chunks), mime || 'application/octet-stream');
      }
      if (method === 'DELETE') {
        uploads.delete(uploadId!);
        return {};
      }
    }

    const rs = /^\/(stat|delete)\/([^/]+)$/.exec(path);
    if (rs) {
      verifyManagement(req, body);
      const [bucket, ...rest] = b64urlDecode(rs[2]!).toString('utf8').split(':');
      const key = rest.join(':');
      const objs = bucketOf(bucket!);
      const obj = objs.get(key);
      if (!obj) throw new QiniuReject(612, 'no such file or directory');
      if (rs[1] === 'delete') {
        if (method !== 'POST') throw new QiniuReject(405, 'method not allowed');
        objs.delete(key);
        return {};
      }
      return {
        fsize: obj.data.length,
        hash: obj.hash,
        md5: createHash('md5').update(obj.data).digest('hex'),
        mimeType: obj.mimeType,
        putTime: obj.putTime,
        type: 0,
      };
    }

    if (path === '/list') {
      verifyManagement(req, body);
      const bucket = url.searchParams.get('bucket') ?? '';
      const prefix = url.searchParams.get('prefix') ?? '';
      const limit = Math.min(Number(url.searchParams.get('limit') ?? 1000) || 1000, 1000);
      const marker = url.searchParams.get('marker') ?? '';
      const after = marker ? b64urlDecode(marker).toString('utf8') : '';
      const keys = [...bucketOf(bucket).keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
      const page = keys.slice(0, limit);
      const objs = bucketOf(bucket);
      return {
        marker: keys.length > page.length ? Buffer.from(page[page.length - 1]!).toString('base64url') : '',
        commonPrefixes: [],
        items: page.map((k) => {
          const o = objs.get(k)!;
          return {
            key: k,
            hash: o.hash,
            fsize: o.data.length,
            mimeType: o.mimeType,
            putTime: o.putTime,
            type: 0,
            status: 0,
          };
        }),
      };
    }

    throw new QiniuReject(404, 'not found');
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const send = (status: number, payload: unknown): void => {
      res.writeHead(status, {
        'Content-Type': 'application/json',
        'X-Reqid': randomBytes(8).toString('hex'),
      });
      res.end(JSON.stringify(payload));
    };
    readBody(req)
      .then(async (body) => {
        requests.push({
          method: req.method ?? '',
          path: req.url ?? '',
          auth: String(req.headers.authorization ?? ''),
        });
        if (faults.throttleNext > 0) {
          faults.throttleNext--;
          throw new QiniuReject(573, 'too many requests');
        }
        send(200, await route(req, body));
      })
      .catch((err: unknown) => {
        if (err instanceof QiniuReject) send(err.status, { error: err.error });
        else send(599, { error: String(err) });
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const download = options.downloadBucket
    ? await startDownloadDomain(options, bucketOf(options.downloadBucket), requests)
    : undefined;
  const closeServer = (s: Server): Promise<void> =>
    new Promise<void>((resolve) => {
      s.closeAllConnections();
      s.close(() => resolve());
    });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    faults,
    objects,
    requests,
    ...(download ? { downloadUrl: download.url } : {}),
    close: async () => {
      await closeServer(server);
      if (download) await closeServer(download.server);
    },
  };
}

/**
 * A private bucket's download domain. The token is checked as the service documents it: the part of the
 * URL before `&token=` (including `?e=<deadline>`) is what `AK:urlsafe-b64(HMAC-SHA1(SK, ...))` signs;
 * anything after the token is ignored; a passed deadline is "token out of date".
 */
async function startDownloadDomain(
  options: QiniuTestServerOptions,
  objects: Map<string, StoredQiniuObject>,
  requests: QiniuTestServer['requests'],
): Promise<{ url: string; server: Server }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const raw = req.url ?? '/';
    requests.push({ method, path: raw, auth: '' });
    const fail = (status: number, error: string): void => {
      res.writeHead(status, {
        'Content-Type': 'application/json',
        'X-Reqid': randomBytes(8).toString('hex'),
      });
      res.end(method === 'HEAD' ? undefined : JSON.stringify({ error }));
    };
    if (method !== 'GET' && method !== 'HEAD') return fail(405, 'method not allowed');
    const at = raw.indexOf('&token=');
    if (at < 0) return fail(401, 'download token not specified');
    const signedPart = raw.slice(0, at);
    const token = raw.slice(at + '&token='.length).split('&')[0]!;
    const url = new URL(signedPart, 'http://placeholder');
    const deadline = url.searchParams.get('e');
    const [ak, sign, ...rest] = token.split(':');
    const expected = hmacB64url(options.secretKey, `http://${req.headers.host ?? ''}${signedPart}`);
    if (ak !== options.accessKey || !sign || rest.length > 0 || !safeEqual(expected, sign)) {
      return fail(401, 'download token auth failed');
    }
    if (!deadline || !/^\d+$/.test(deadline) || Number(deadline) < Date.now() / 1000) {
      return fail(401, 'token out of date');
    }
    const obj = objects.get(decodeURIComponent(url.pathname.slice(1)));
    if (!obj) return fail(404, 'Document not found');
    res.writeHead(200, {
      'Content-Type': obj.mimeType,
      'Content-Length': String(obj.data.length),
      ETag: `"${obj.hash}"`,
      'X-Reqid': randomBytes(8).toString('hex'),
    });
    res.end(method === 'HEAD' ? undefined : obj.data);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

interface ParsedForm {
  fields: Map<string, string>;
  file?: { data: Buffer; contentType: string };
}

function parseMultipart(req: IncomingMessage, body: Buffer): ParsedForm {
  const type = String(req.headers['content-type'] ?? '');
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(type);
  if (!boundary) throw new QiniuReject(400, 'invalid multipart format');
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  const form: ParsedForm = { fields: new Map() };
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    const part = body.subarray(start + 2, next - 2); // skip CRLF after the delimiter and before the next
    const split = part.indexOf('\r\n\r\n');
    const head = part.subarray(0, split).toString('utf8');
    const content = part.subarray(split + 4);
    const name = /name="([^"]*)"/.exec(head)?.[1];
    if (name === 'file') {
      form.file = {
        data: Buffer.from(content),
        contentType: /content-type:\s*([^\r\n]+)/i.exec(head)?.[1] ?? 'application/octet-stream',
      };
    } else if (name) {
      form.fields.set(name, content.toString('utf8'));
    }
    at = next;
  }
  return form;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
