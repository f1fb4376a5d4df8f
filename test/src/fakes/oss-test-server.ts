import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { crc64 } from '@recfleet/storage';
import { flipByte, noFaults, readBody, serveLoopback, type StoreFaults } from './fake-http.js';

/**
 * An in-memory Aliyun OSS endpoint speaking the subset ali-oss uses for objects and multipart uploads.
 * It authenticates like the service: V1 (`OSS AK:HMAC-SHA1`) and V4 (`OSS4-HMAC-SHA256`) signatures are
 * recomputed from the request as received and compared, in the Authorization header or in the query
 * (signed URLs: `OSSAccessKeyId/Expires/Signature`, `x-oss-signature-version=OSS4-HMAC-SHA256`, refused
 * once expired); errors are the service's XML bodies.
 */
export interface OssTestServerOptions {
  accessKeyId: string;
  accessKeySecret: string;
  buckets: string[];
  /** Standard region the V4 credential scope must name. */
  region?: string;
}

export interface OssTestServer {
  url: string;
  port: number;
  faults: StoreFaults;
  objects: Map<string, Map<string, StoredOssObject>>;
  /** Every request seen, for assertions on what the SDK sent (method, path, auth scheme). */
  requests: { method: string; path: string; auth: string }[];
  close(): Promise<void>;
}

export interface StoredOssObject {
  data: Buffer;
  etag: string;
  contentType: string;
  lastModified: Date;
}

interface Upload {
  bucket: string;
  key: string;
  contentType: string;
  parts: Map<number, { data: Buffer; etag: string }>;
}

// Sub-resources that take part in the V1 canonicalized resource (OSS API reference, "Signature V1").
const V1_SUBRESOURCES = new Set([
  'acl',
  'uploads',
  'location',
  'cors',
  'logging',
  'website',
  'referer',
  'lifecycle',
  'delete',
  'append',
  'tagging',
  'objectMeta',
  'uploadId',
  'partNumber',
  'security-token',
  'position',
  'img',
  'style',
  'styleName',
  'replication',
  'replicationProgress',
  'replicationLocation',
  'cname',
  'bucketInfo',
  'comp',
  'qos',
  'live',
  'status',
  'vod',
  'startTime',
  'endTime',
  'symlink',
  'x-oss-process',
  'response-content-type',
  'response-content-language',
  'response-expires',
  'response-cache-control',
  'response-content-disposition',
  'response-content-encoding',
  'udf',
  'udfName',
  'udfImage',
  'udfId',
  'udfImageDesc',
  'udfApplication',
  'udfApplicationLog',
  'restore',
  'callback',
  'callback-var',
  'continuation-token',
  'versionId',
  'versioning',
  'versions',
  'encryption',
  'policy',
  'requestPayment',
  'worm',
  'wormId',
  'wormExtend',
  'inventory',
  'inventoryId',
  'stat',
]);

const md5Etag = (data: Buffer): string => `"${createHash('md5').update(data).digest('hex').toUpperCase()}"`;
const requestId = (): string => randomBytes(12).toString('hex').toUpperCase();
const xmlEscape = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
// RFC 3986 encoding as OSS V4 specifies it.
const rfc3986 = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export async function startOssTestServer(options: OssTestServerOptions): Promise<OssTestServer> {
  const region = options.region ?? 'cn-hangzhou';
  const faults = noFaults();
  const objects = new Map<string, Map<string, StoredOssObject>>(options.buckets.map((b) => [b, new Map()]));
  const uploads = new Map<string, Upload>();
  const requests: OssTestServer['requests'] = [];

  const sendError = (
    res: ServerResponse,
    method: string,
    status: number,
    code: string,
    message: string,
    extra: Record<string, string> = {},
  ): void => {
    const id = requestId();
    const fields = Object.entries(extra)
      .map(([k, v]) => `  <${k}>${xmlEscape(v)}</${k}>\n`)
      .join('');
    const xml =
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>${code}</Code>\n  <Message>${xmlEscape(message)}</Message>\n` +
      `  <RequestId>${id}</RequestId>\n  <HostId>oss-test.aliyuncs.com</HostId>\n${fields}</Error>\n`;
    res.setHeader('x-oss-request-id', id);
    res.setHeader('Content-Type', 'application/xml');
    if (method === 'HEAD') {
      // HEAD answers have no body; the service carries the error document base64-encoded in x-oss-err.
      res.setHeader('x-oss-err', Buffer.from(xml).toString('base64'));
      res.writeHead(status).end();
      return;
    }
    res.writeHead(status).end(xml);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://placeholder');
    const query = url.searchParams;
    const hostHeader = (req.headers.host ?? '').replace(/:\d+$/, '');
    requests.push({ method, path: url.pathname + url.search, auth: String(req.headers.authorization ?? '') });

    // Virtual-host style names the bucket in Host; an IP or localhost Host means path style.
    let bucket: string;
    let key: string;
    const rawPath = url.pathname.slice(1);
    if (isIP(hostHeader) || hostHeader === 'localhost' || hostHeader === '') {
      const slash = rawPath.indexOf('/');
      bucket = decodeURIComponent(slash < 0 ? rawPath : rawPath.slice(0, slash));
      key = slash < 0 ? '' : decodeURIComponent(rawPath.slice(slash + 1));
    } else {
      bucket = hostHeader.split('.')[0]!;
      key = decodeURIComponent(rawPath);
    }

    if (faults.throttleNext > 0) {
      faults.throttleNext--;
      sendError(res, method, 503, 'ServiceUnavailable', 'Please reduce your request rate.', {
        EC: '0002-00000001',
      });
      return;
    }

    const bucketObjects = objects.get(bucket);
    if (!bucketObjects) {
      sendError(res, method, 404, 'NoSuchBucket', 'The specified bucket does not exist.', {
        BucketName: bucket,
        EC: '0015-00000101',
      });
      return;
    }

    const authError = verifySignature(req, method, query, bucket, key, options, region);
    if (authError) {
      sendError(res, method, 403, authError.code, authError.message, authError.extra);
      return;
    }

    const md5Header = req.headers['content-md5'];
    const received =
      faults.corruptBodies &&
      (method === 'PUT' || method === 'POST') &&
      body.length > 0 &&
      !query.has('uploadId')
        ? flipByte(body)
        : body;
    const partBody =
      faults.corruptBodies && method === 'PUT' && query.has('uploadId') ? flipByte(body) : body;
    const checkMd5 = (data: Buffer): boolean =>
      typeof md5Header !== 'string' || createHash('md5').update(data).digest('base64') === md5Header;

    const headers = (obj: StoredOssObject): Record<string, string> => ({
      ETag: obj.etag,
      'Content-Type': obj.contentType,
      'Content-Length': String(obj.data.length),
      'Last-Modified': obj.lastModified.toUTCString(),
      'x-oss-hash-crc64ecma': crc64(obj.data),
      'x-oss-object-type': obj.etag.includes('-') ? 'Multipart' : 'Normal',
      'x-oss-request-id': requestId(),
    });

    if (key === '') {
      if (method !== 'GET') {
        sendError(
          res,
          method,
          405,
          'MethodNotAllowed',
          'The specified method is not allowed against this resource.',
        );
        return;
      }
      res.setHeader('Content-Type', 'application/xml');
      res.writeHead(200).end(listXml(bucket, bucketObjects, query));
      return;
    }

    if (method === 'POST' && query.has('uploads')) {
      const uploadId = randomBytes(16).toString('hex').toUpperCase();
      uploads.set(uploadId, {
        bucket,
        key,
        contentType: String(req.headers['content-type'] ?? 'application/octet-stream'),
        parts: new Map(),
      });
      res.setHeader('Content-Type', 'application/xml');
      res
        .writeHead(200)
        .end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult>\n  <Bucket>${xmlEscape(bucket)}</Bucket>\n` +
            `  <Key>${xmlEscape(key)}</Key>\n  <UploadId>${uploadId}</UploadId>\n</InitiateMultipartUploadResult>\n`,
        );
      return;
    }

    const uploadId = query.get('uploadId');
    if (uploadId !== null) {
      const upload = uploads.get(uploadId);
      if (!upload || upload.bucket !== bucket || upload.key !== key) {
        sendError(
          res,
          method,
          404,
          'NoSuchUpload',
          'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
          { UploadId: uploadId },
        );
        return;
      }
      if (method === 'PUT') {
        const partNumber = Number(query.get('partNumber'));
        if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000) {
          sendError(
            res,
            method,
            400,
            'InvalidArgument',
            'Part number must be an integer between 1 and 10000, inclusive.',
          );
          return;
        }
        if (!checkMd5(partBody)) {
          sendError(res, method, 400, 'InvalidDigest', 'The Content-MD5 you specified is not valid.');
          return;
        }
        const etag = md5Etag(partBody);
        upload.parts.set(partNumber, { data: partBody, etag });
        res
          .writeHead(200, {
            ETag: etag,
            'x-oss-hash-crc64ecma': crc64(partBody),
            'x-oss-request-id': requestId(),
          })
          .end();
        return;
      }
      if (method === 'DELETE') {
        uploads.delete(uploadId);
        res.writeHead(204).end();
        return;
      }
      if (method === 'POST') {
        if (!checkMd5(body)) {
          sendError(res, method, 400, 'InvalidDigest', 'The Content-MD5 you specified is not valid.');
          return;
        }
        const listed = [
          ...body
            .toString('utf8')
            .matchAll(/<Part>\s*<PartNumber>(\d+)<\/PartNumber>\s*<ETag>([^<]+)<\/ETag>\s*<\/Part>/g),
        ].map((m) => ({ number: Number(m[1]), etag: m[2]!.replace(/&quot;/g, '"') }));
        const chosen: Buffer[] = [];
        for (const [i, p] of listed.entries()) {
          const part = upload.parts.get(p.number);
          if (!part || part.etag.replace(/"/g, '') !== p.etag.replace(/"/g, '')) {
            sendError(
              res,
              method,
              400,
              'InvalidPart',
              "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.",
              { PartNumber: String(p.number) },
            );
            return;
          }
          if (i > 0 && listed[i - 1]!.number >= p.number) {
            sendError(res, method, 400, 'InvalidPartOrder', 'The list of parts was not in ascending order.');
            return;
          }
          if (i < listed.length - 1 && part.data.length < 100 * 1024) {
            sendError(
              res,
              method,
              400,
              'EntityTooSmall',
              'Your proposed upload is smaller than the minimum allowed size.',
            );
            return;
          }
          chosen.push(part.data);
        }
        const data = Buffer.concat(chosen);
        // The service documents a multipart ETag as opaque; the S3-style composite is one valid choice.
        const composite = createHash('md5')
          .update(Buffer.concat(listed.map((p) => Buffer.from(p.etag.replace(/"/g, ''), 'hex'))))
          .digest('hex')
          .toUpperCase();
        const obj: StoredOssObject = {
          data,
          etag: `"${composite}-${listed.length}"`,
          contentType: upload.contentType,
          lastModified: new Date(),
        };
        bucketObjects.set(key, obj);
        uploads.delete(uploadId);
        const etag = faults.wrongEtag ? `"${'0'.repeat(32)}-${listed.length}"` : obj.etag;
        res.writeHead(200, {
          'Content-Type': 'application/xml',
          ETag: etag,
          'x-oss-hash-crc64ecma': crc64(data),
          'x-oss-request-id': requestId(),
        });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUploadResult>\n  <Location>http://${xmlEscape(bucket)}.oss-test.aliyuncs.com/${xmlEscape(key)}</Location>\n` +
            `  <Bucket>${xmlEscape(bucket)}</Bucket>\n  <Key>${xmlEscape(key)}</Key>\n  <ETag>${xmlEscape(etag)}</ETag>\n</CompleteMultipartUploadResult>\n`,
        );
        return;
      }
    }

    switch (method) {
      case 'PUT': {
        if (!checkMd5(received)) {
          sendError(res, method, 400, 'InvalidDigest', 'The Content-MD5 you specified is not valid.');
          return;
        }
        const obj: StoredOssObject = {
          data: received,
          etag: md5Etag(received),
          contentType: String(req.headers['content-type'] ?? 'application/octet-stream'),
          lastModified: new Date(),
        };
        bucketObjects.set(key, obj);
        const h = headers(obj);
        delete h['Content-Length'];
        delete h['Content-Type'];
        delete h['Last-Modified'];
        if (faults.wrongEtag) h.ETag = md5Etag(flipByte(received));
        res.writeHead(200, h).end();
        return;
      }
      case 'GET':
      case 'HEAD': {
        const obj = bucketObjects.get(key);
        if (!obj) {
          sendError(res, method, 404, 'NoSuchKey', 'The specified key does not exist.', {
            Key: key,
            EC: '0026-00000001',
          });
          return;
        }
        res.writeHead(200, headers(obj));
        res.end(method === 'GET' ? obj.data : undefined);
        return;
      }
      case 'DELETE':
        bucketObjects.delete(key);
        res.writeHead(204, { 'x-oss-request-id': requestId() }).end();
        return;
      default:
        sendError(
          res,
          method,
          405,
          'MethodNotAllowed',
          'The specified method is not allowed against this resource.',
        );
    }
  };

  return { ...(await serveLoopback(handle, 500)), faults, objects, requests };
}

function listXml(bucket: string, objects: Map<string, StoredOssObject>, query: URLSearchParams): string {
  const v2 = query.get('list-type') === '2';
  const prefix = query.get('prefix') ?? '';
  const max = Math.min(Number(query.get('max-keys') ?? 100) || 100, 1000);
  const after = v2
    ? (query.get('continuation-token') ?? query.get('start-after') ?? '')
    : (query.get('marker') ?? '');
  const keys = [...objects.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
  const page = keys.slice(0, max);
  const truncated = keys.length > page.length;
  const contents = page
    .map((k) => {
      const o = objects.get(k)!;
      return (
        `  <Contents>\n    <Key>${xmlEscape(k)}</Key>\n    <LastModified>${o.lastModified.toISOString()}</LastModified>\n` +
        `    <ETag>${xmlEscape(o.etag)}</ETag>\n    <Type>${o.etag.includes('-') ? 'Multipart' : 'Normal'}</Type>\n` +
        `    <Size>${o.data.length}</Size>\n    <StorageClass>Standard</StorageClass>\n` +
        `    <Owner>\n      <ID>1234567890</ID>\n      <DisplayName>1234567890</DisplayName>\n    </Owner>\n  </Contents>\n`
      );
    })
    .join('');
  const next = truncated ? page[page.length - 1]! : '';
  const paging = v2
    ? `  <KeyCount>${page.length}</KeyCount>\n${truncated ? `  <NextContinuationToken>${xmlEscape(next)}</NextContinuationToken>\n` : ''}`
    : `  <Marker>${xmlEscape(after)}</Marker>\n${truncated ? `  <NextMarker>${xmlEscape(next)}</NextMarker>\n` : ''}`;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult>\n  <Name>${xmlEscape(bucket)}</Name>\n` +
    `  <Prefix>${xmlEscape(prefix)}</Prefix>\n  <MaxKeys>${max}</MaxKeys>\n  <Delimiter></Delimiter>\n` +
    `  <IsTruncated>${truncated}</IsTruncated>\n${paging}${contents}</ListBucketResult>\n`
  );
}

interface AuthFailure {
  code: 'InvalidAccessKeyId' | 'SignatureDoesNotMatch' | 'AccessDenied';
  message: string;
  extra: Record<string, string>;
}

function verifySignature(
  req: IncomingMessage,
  method: string,
  query: URLSearchParams,
  bucket: string,
  key: string,
  options: OssTestServerOptions,
  region: string,
): AuthFailure | undefined {
  const auth = String(req.headers.authorization ?? '');
  const header = (name: string): string => {
    const v = req.headers[name];
    return Array.isArray(v) ? v.join(',') : (v ?? '');
  };
  const ossHeaders = Object.keys(req.headers)
    .filter((k) => k.startsWith('x-oss-'))
    .sort();
  const mismatch = (stringToSign: string): AuthFailure => ({
    code: 'SignatureDoesNotMatch',
    message:
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
    extra: { StringToSign: stringToSign, OSSAccessKeyId: options.accessKeyId, EC: '0002-00000040' },
  });
  const unknownKey = (ak: string): AuthFailure => ({
    code: 'InvalidAccessKeyId',
    message: 'The OSS Access Key Id you provided does not exist in our records.',
    extra: { OSSAccessKeyId: ak, EC: '0002-00000902' },
  });
  // The service's answer to a signed URL used after its expiry.
  const expired = (expires: string, at: Date): AuthFailure => ({
    code: 'AccessDenied',
    message: 'Request has expired.',
    extra: {
      Expires: Number.isNaN(at.getTime()) ? expires : at.toISOString(),
      ServerTime: new Date().toISOString(),
      EC: '0002-00000069',
    },
  });

  const v1 = /^OSS ([^:]+):(.+)$/.exec(auth);
  if (v1) {
    if (v1[1] !== options.accessKeyId) return unknownKey(v1[1]!);
    const stringToSign = [
      method,
      header('content-md5'),
      header('content-type'),
      header('x-oss-date') || header('date'),
      ...ossHeaders.map((k) => `${k}:${header(k).trim()}`),
      v1Resource(bucket, key, query),
    ].join('\n');
    const expected = createHmac('sha1', options.accessKeySecret)
      .update(stringToSign, 'utf8')
      .digest('base64');
    return safeEqual(expected, v1[2]!) ? undefined : mismatch(stringToSign);
  }

  // V4 in the header or, for signed URLs, in the query (whose own x-oss-signature is left out of the
  // canonical query, and whose date is x-oss-date there too).
  const verifyV4 = (
    sig: { credential: string; date: string; signature: string; additional: string },
    inQuery: boolean,
  ): AuthFailure | undefined => {
    const credential = sig.credential.split('/');
    const [, day, scopeRegion, product, terminator] = credential;
    if (
      credential.length !== 5 ||
      terminator !== 'aliyun_v4_request' ||
      product !== 'oss' ||
      scopeRegion !== region ||
      !sig.date.startsWith(day ?? '-')
    ) {
      return mismatch(`invalid credential scope ${sig.credential}`);
    }
    const additional = sig.additional
      .split(';')
      .filter(Boolean)
      .map((h) => h.toLowerCase())
      .sort();
    const signed = new Set([...ossHeaders, ...additional]);
    if (req.headers['content-type'] !== undefined) signed.add('content-type');
    if (req.headers['content-md5'] !== undefined) signed.add('content-md5');
    const canonicalQuery = [...new Set(query.keys())]
      .filter((k) => !(inQuery && k === 'x-oss-signature'))
      .sort()
      .map((k) => (query.get(k) ? `${rfc3986(k)}=${rfc3986(query.get(k)!)}` : rfc3986(k)))
      .join('&');
    const canonicalRequest = [
      method,
      rfc3986(`/${bucket}/${key}`).replace(/%2F/g, '/'),
      canonicalQuery,
      [...signed]
        .sort()
        .map((k) => `${k}:${header(k).trim()}\n`)
        .join(''),
      additional.join(';'),
      header('x-oss-content-sha256') || 'UNSIGNED-PAYLOAD',
    ].join('\n');
    const stringToSign = [
      'OSS4-HMAC-SHA256',
      sig.date,
      `${day}/${region}/oss/aliyun_v4_request`,
      createHash('sha256').update(canonicalRequest).digest('hex'),
    ].join('\n');
    let k = createHmac('sha256', `aliyun_v4${options.accessKeySecret}`).update(day!).digest();
    k = createHmac('sha256', k).update(region).digest();
    k = createHmac('sha256', k).update('oss').digest();
    k = createHmac('sha256', k).update('aliyun_v4_request').digest();
    const expected = createHmac('sha256', k).update(stringToSign).digest('hex');
    return safeEqual(expected, sig.signature) ? undefined : mismatch(stringToSign);
  };

  const v4 = /^OSS4-HMAC-SHA256 (.+)$/.exec(auth);
  if (v4) {
    const fields = new Map(
      v4[1]!.split(',').map((part) => {
        const eq = part.indexOf('=');
        return [part.slice(0, eq).trim(), part.slice(eq + 1).trim()] as const;
      }),
    );
    const credential = fields.get('Credential') ?? '';
    const ak = credential.split('/')[0] ?? '';
    if (ak !== options.accessKeyId) return unknownKey(ak);
    return verifyV4(
      {
        credential,
        date: header('x-oss-date'),
        signature: fields.get('Signature') ?? '',
        additional: fields.get('AdditionalHeaders') ?? '',
      },
      false,
    );
  }

  if (!auth && query.has('OSSAccessKeyId') && query.has('Signature') && query.has('Expires')) {
    const ak = query.get('OSSAccessKeyId')!;
    if (ak !== options.accessKeyId) return unknownKey(ak);
    const expires = query.get('Expires')!;
    if (!/^\d+$/.test(expires) || Number(expires) < Date.now() / 1000) {
      return expired(expires, new Date(Number(expires) * 1000));
    }
    const stringToSign = [
      method,
      header('content-md5'),
      header('content-type'),
      expires,
      ...ossHeaders.map((k) => `${k}:${header(k).trim()}`),
      v1Resource(bucket, key, query),
    ].join('\n');
    const expected = createHmac('sha1', options.accessKeySecret)
      .update(stringToSign, 'utf8')
      .digest('base64');
    return safeEqual(expected, query.get('Signature')!) ? undefined : mismatch(stringToSign);
  }

  if (!auth && query.get('x-oss-signature-version') === 'OSS4-HMAC-SHA256') {
    const credential = query.get('x-oss-credential') ?? '';
    const date = query.get('x-oss-date') ?? '';
    const seconds = Number(query.get('x-oss-expires'));
    const ak = credential.split('/')[0] ?? '';
    if (ak !== options.accessKeyId) return unknownKey(ak);
    const at = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(date);
    if (!at || !Number.isInteger(seconds) || seconds < 1 || seconds > 604_800) {
      return {
        code: 'AccessDenied',
        message: 'Invalid x-oss-date or x-oss-expires.',
        extra: { EC: '0002-00000071' },
      };
    }
    const signedAt = Date.UTC(+at[1]!, +at[2]! - 1, +at[3]!, +at[4]!, +at[5]!, +at[6]!);
    if (signedAt + seconds * 1000 < Date.now())
      return expired(String(seconds), new Date(signedAt + seconds * 1000));
    return verifyV4(
      {
        credential,
        date,
        signature: query.get('x-oss-signature') ?? '',
        additional: query.get('x-oss-additional-headers') ?? '',
      },
      true,
    );
  }

  return {
    code: 'AccessDenied',
    message: 'AccessDenied: anonymous access is forbidden for this operation.',
    extra: { EC: '0003-00000001' },
  };
}

function v1Resource(bucket: string, key: string, query: URLSearchParams): string {
  const subresources = [...query.keys()]
    .filter((k) => V1_SUBRESOURCES.has(k))
    .sort()
    .map((k) => (query.get(k) ? `${k}=${query.get(k)}` : k));
  return `/${bucket}/${key}${subresources.length ? `?${subresources.join('&')}` : ''}`;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
