import { createHash } from 'node:crypto';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { flipByte, noFaults, readBody, serveLoopback, type StoreFaults } from './fake-http.js';

/**
 * An HTTP proxy in front of a real S3 server (s3rver) that damages traffic on demand: flips a byte of
 * PUT bodies (the server then refuses them on Content-MD5, or stores a bad part), rewrites ETags in
 * answers, or throttles with S3's own 503 SlowDown error. Requests are otherwise forwarded untouched.
 */
export interface CorruptingProxy {
  url: string;
  port: number;
  faults: StoreFaults;
  close(): Promise<void>;
}

const FAKE_MD5 = createHash('md5').update('not the content').digest('hex');

export async function startCorruptingProxy(target: string): Promise<CorruptingProxy> {
  const upstream = new URL(target);
  const faults = noFaults();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let body = await readBody(req);
    if (faults.throttleNext > 0) {
      faults.throttleNext--;
      res.writeHead(503, { 'Content-Type': 'application/xml' });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>' +
          '<RequestId>0000000000000000</RequestId><HostId>proxy</HostId></Error>',
      );
      return;
    }
    if (faults.corruptBodies && req.method === 'PUT' && body.length > 0) body = flipByte(body);
    const headers = { ...req.headers, host: upstream.host };
    const answer = await new Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }>(
      (resolve, reject) => {
        const out = request(
          { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
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
    let responseBody = answer.body;
    const responseHeaders = { ...answer.headers };
    if (faults.wrongEtag && (req.method === 'PUT' || req.method === 'POST')) {
      if (responseHeaders.etag) responseHeaders.etag = `"${FAKE_MD5}"`;
      // CompleteMultipartUpload carries the object's ETag in its XML body.
      const text = responseBody.toString('utf8');
      if (text.includes('<ETag>')) {
        responseBody = Buffer.from(
          text.replace(/<ETag>[^<]*<\/ETag>/, `<ETag>&quot;${FAKE_MD5}-1&quot;</ETag>`),
        );
      }
    }
    delete responseHeaders['transfer-encoding'];
    // A HEAD answer has no body but keeps the object's Content-Length.
    if (req.method !== 'HEAD') responseHeaders['content-length'] = String(responseBody.length);
    res.writeHead(answer.status, responseHeaders);
    res.end(req.method === 'HEAD' ? undefined : responseBody);
  };

  return { ...(await serveLoopback(handle)), faults };
}
