import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { readBody, serveLoopback } from './fake-http.js';

/**
 * SigV4 query-string authentication (presigned URLs) checked the way S3 does it, written from the AWS
 * specification ("Authenticating Requests: Using Query Parameters") without the SDK's signer, so a bug
 * shared by our signer and the SDK's cannot hide. s3rver accepts any signature; this is what stands in
 * for the real check.
 */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface S3AuthFailure {
  status: number;
  code: string;
  message: string;
}

const rfc3986 = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/**
 * Verifies a presigned request as received: `path` is the raw request target (path and query), `headers`
 * the request's headers (host included). Returns undefined when S3 would accept it.
 */
export function verifyS3PresignedRequest(
  method: string,
  path: string,
  headers: IncomingMessage['headers'],
  credentials: S3Credentials,
  now = Date.now(),
): S3AuthFailure | undefined {
  const url = new URL(path, 'http://placeholder');
  const q = url.searchParams;
  const bad = (message: string): S3AuthFailure => ({
    status: 400,
    code: 'AuthorizationQueryParametersError',
    message,
  });
  if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256')
    return bad('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
  const credential = (q.get('X-Amz-Credential') ?? '').split('/');
  const [ak, day, region, service, terminator] = credential;
  if (credential.length !== 5 || service !== 's3' || terminator !== 'aws4_request') {
    return bad('Error parsing the X-Amz-Credential parameter');
  }
  if (ak !== credentials.accessKeyId) {
    return {
      status: 403,
      code: 'InvalidAccessKeyId',
      message: 'The AWS Access Key Id you provided does not exist in our records.',
    };
  }
  const date = q.get('X-Amz-Date') ?? '';
  const at = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(date);
  if (!at || !date.startsWith(day!))
    return bad('X-Amz-Date must be in the ISO8601 Long Format and match the credential');
  const expires = Number(q.get('X-Amz-Expires'));
  if (!Number.isInteger(expires) || expires < 1 || expires > 604_800) {
    return bad('X-Amz-Expires must be between 1 and 604800 seconds');
  }
  const signedAt = Date.UTC(+at[1]!, +at[2]! - 1, +at[3]!, +at[4]!, +at[5]!, +at[6]!);
  if (now > signedAt + expires * 1000)
    return { status: 403, code: 'AccessDenied', message: 'Request has expired' };
  const signedHeaders = (q.get('X-Amz-SignedHeaders') ?? '').split(';').filter(Boolean);
  if (!signedHeaders.includes('host')) return bad('Host must be a signed header');

  const canonicalUri = url.pathname
    .split('/')
    .map((segment) => rfc3986(decodeURIComponent(segment)))
    .join('/');
  const canonicalQuery = [...q.entries()]
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const headerValue = (name: string): string => {
    const v = headers[name];
    return (Array.isArray(v) ? v.join(',') : (v ?? '')).trim().replace(/\s+/g, ' ');
  };
  const canonicalRequest = [
    method,
    canonicalUri,
    canonicalQuery,
    signedHeaders.map((h) => `${h}:${headerValue(h)}\n`).join(''),
    signedHeaders.join(';'),
    q.get('X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD',
  ].join('\n');
  const scope = `${day}/${region}/s3/aws4_request`;
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    date,
    scope,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  let key = hmac(`AWS4${credentials.secretAccessKey}`, day!);
  for (const part of [region!, 's3', 'aws4_request']) key = hmac(key, part);
  const expected = Buffer.from(createHmac('sha256', key).update(stringToSign).digest('hex'));
  const given = Buffer.from(q.get('X-Amz-Signature') ?? '');
  if (expected.length === given.length && timingSafeEqual(expected, given)) return undefined;
  return {
    status: 403,
    code: 'SignatureDoesNotMatch',
    message:
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
  };
}

export interface S3PresignProxy {
  url: string;
  port: number;
  /** Presigned requests seen, with the status each got: proof the checks ran. */
  presigned: { method: string; path: string; status: number }[];
  close(): Promise<void>;
}

/**
 * A proxy in front of s3rver that refuses presigned requests S3 would refuse (bad signature, expired,
 * unknown key) with S3's XML errors, and forwards everything else unchanged. Header-signed SDK requests
 * pass through (s3rver itself only checks their access key).
 */
export async function startS3PresignProxy(
  target: string,
  credentials: S3Credentials,
): Promise<S3PresignProxy> {
  const upstream = new URL(target);
  const presigned: S3PresignProxy['presigned'] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const body = await readBody(req);
    if (new URL(path, 'http://placeholder').searchParams.has('X-Amz-Algorithm')) {
      const failure = verifyS3PresignedRequest(method, path, req.headers, credentials);
      if (failure) {
        presigned.push({ method, path, status: failure.status });
        res.writeHead(failure.status, { 'Content-Type': 'application/xml' });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${failure.code}</Code><Message>${failure.message}</Message>` +
            '<RequestId>0000000000000000</RequestId><HostId>presign-proxy</HostId></Error>',
        );
        return;
      }
    }
    const headers = { ...req.headers, host: upstream.host };
    const answer = await new Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }>(
      (resolve, reject) => {
        const out = request(
          { hostname: upstream.hostname, port: upstream.port, method, path, headers },
          (up) => {
            readBody(up).then(
              (b) => resolve({ status: up.statusCode ?? 502, headers: up.headers, body: b }),
              reject,
            );
          },
        );
        out.on('error', reject);
        out.end(body);
      },
    );
    if (new URL(path, 'http://placeholder').searchParams.has('X-Amz-Algorithm')) {
      presigned.push({ method, path, status: answer.status });
    }
    const responseHeaders = { ...answer.headers };
    delete responseHeaders['transfer-encoding'];
    if (method !== 'HEAD') responseHeaders['content-length'] = String(answer.body.length);
    res.writeHead(answer.status, responseHeaders);
    res.end(method === 'HEAD' ? undefined : answer.body);
  };

  return { ...(await serveLoopback(handle)), presigned };
}
