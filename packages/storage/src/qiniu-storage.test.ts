import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qiniuEtag } from './qiniu-storage.js';

const sha1 = (b: Buffer): Buffer => createHash('sha1').update(b).digest();
const b64url = (b: Buffer): string => b.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
const MIB = 1024 * 1024;

/** Deterministic content so the vectors below stay fixed. */
function pattern(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}

describe('qiniuEtag', () => {
  it('matches the published hash of empty content', async () => {
    expect(await qiniuEtag(Buffer.alloc(0))).toBe('Fto5o-5ea0sNMlW_75VgGJCv2AcJ');
  });

  it('is 0x16 + SHA1 for content up to exactly one 4 MiB block', async () => {
    for (const size of [1, 1000, 4 * MIB]) {
      const data = pattern(size);
      expect(await qiniuEtag(data)).toBe(b64url(Buffer.concat([Buffer.from([0x16]), sha1(data)])));
    }
  });

  it('is 0x96 + SHA1 of the block SHA1s above 4 MiB, for buffers and files alike', async () => {
    const data = pattern(9 * MIB + 123);
    const blocks = [data.subarray(0, 4 * MIB), data.subarray(4 * MIB, 8 * MIB), data.subarray(8 * MIB)];
    const expected = b64url(Buffer.concat([Buffer.from([0x96]), sha1(Buffer.concat(blocks.map(sha1)))]));
    expect(await qiniuEtag(data)).toBe(expected);
    expect(expected.startsWith('l')).toBe(true); // 0x96 always encodes to a leading "l"
    const dir = await mkdtemp(join(tmpdir(), 'qetag-'));
    try {
      await writeFile(join(dir, 'f'), data);
      expect(await qiniuEtag(join(dir, 'f'))).toBe(expected);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('treats 4 MiB + 1 byte as two blocks', async () => {
    const data = pattern(4 * MIB + 1);
    const expected = b64url(
      Buffer.concat([
        Buffer.from([0x96]),
        sha1(Buffer.concat([sha1(data.subarray(0, 4 * MIB)), sha1(data.subarray(4 * MIB))])),
      ]),
    );
    expect(await qiniuEtag(data)).toBe(expected);
  });
});
