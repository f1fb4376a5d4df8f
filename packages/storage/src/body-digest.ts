import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { StorageError, type PutBody } from './storage-adapter.js';

/** Size and MD5 of a put body, plus the per-part MD5s a multipart upload of `partSize` would produce. */
export interface BodyDigest {
  bytes: number;
  md5: Buffer;
  partMd5s: Buffer[];
  /** CRC-64/ECMA-182 as OSS reports it (x-oss-hash-crc64ecma), when asked for. */
  crc64?: string;
}

/**
 * Hashes the body once before upload so the store's answer can be checked against what we meant to
 * send, not against what we happened to read while sending (a file still being written would differ).
 */
export async function digestBody(body: PutBody, partSize = 0, withCrc64 = false): Promise<BodyDigest> {
  const crc = withCrc64 ? new Crc64() : undefined;
  const whole = createHash('md5');
  const partMd5s: Buffer[] = [];
  let part = createHash('md5');
  let inPart = 0;
  let bytes = 0;
  const feed = (chunk: Buffer): void => {
    whole.update(chunk);
    crc?.update(chunk);
    bytes += chunk.length;
    if (partSize <= 0) return;
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(partSize - inPart, chunk.length - offset);
      part.update(chunk.subarray(offset, offset + take));
      inPart += take;
      offset += take;
      if (inPart === partSize) {
        partMd5s.push(part.digest());
        part = createHash('md5');
        inPart = 0;
      }
    }
  };
  if (body.data) feed(body.data);
  else if (body.filePath) for await (const chunk of createReadStream(body.filePath)) feed(chunk as Buffer);
  else throw new StorageError('STORAGE_REFUSED', 'put needs filePath or data');
  if (inPart > 0) partMd5s.push(part.digest());
  return { bytes, md5: whole.digest(), partMd5s, ...(crc ? { crc64: crc.toString() } : {}) };
}

/** The S3-style multipart ETag (also used by OSS): MD5 of the concatenated binary part MD5s, "-N". */
export function multipartEtag(partMd5s: Buffer[]): string {
  return `${createHash('md5').update(Buffer.concat(partMd5s)).digest('hex')}-${partMd5s.length}`;
}

export async function bodySize(body: PutBody): Promise<number> {
  if (body.data) return body.data.length;
  if (body.filePath) return (await stat(body.filePath)).size;
  throw new StorageError('STORAGE_REFUSED', 'put needs filePath or data');
}

/** ETags arrive quoted and in either case depending on the vendor. */
export function normalizeEtag(etag: string | undefined): string | undefined {
  return etag?.replace(/^W\//, '').replace(/"/g, '').toLowerCase();
}

// CRC-64/XZ (ECMA-182 polynomial, reflected, init and xorout all ones), the variant OSS uses. Kept in two
// 32-bit halves: BigInt per byte would cost seconds on a segment-sized body.
const CRC64_LO = new Uint32Array(256);
const CRC64_HI = new Uint32Array(256);
{
  const polyLo = 0xd7870f42;
  const polyHi = 0xc96c5795;
  for (let n = 0; n < 256; n++) {
    let lo = n;
    let hi = 0;
    for (let k = 0; k < 8; k++) {
      const carry = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (carry) {
        lo = (lo ^ polyLo) >>> 0;
        hi = (hi ^ polyHi) >>> 0;
      }
    }
    CRC64_LO[n] = lo;
    CRC64_HI[n] = hi;
  }
}

export class Crc64 {
  private lo = 0xffffffff;
  private hi = 0xffffffff;

  update(data: Buffer): this {
    let lo = this.lo;
    let hi = this.hi;
    for (let i = 0; i < data.length; i++) {
      const idx = (lo ^ data[i]!) & 0xff;
      const nextLo = ((lo >>> 8) | (hi << 24)) >>> 0;
      lo = (nextLo ^ CRC64_LO[idx]!) >>> 0;
      hi = ((hi >>> 8) ^ CRC64_HI[idx]!) >>> 0;
    }
    this.lo = lo;
    this.hi = hi;
    return this;
  }

  /** Unsigned decimal, the form of the x-oss-hash-crc64ecma header. */
  toString(): string {
    const value = (BigInt((this.hi ^ 0xffffffff) >>> 0) << 32n) | BigInt((this.lo ^ 0xffffffff) >>> 0);
    return value.toString();
  }
}

export function crc64(data: Buffer): string {
  return new Crc64().update(data).toString();
}
