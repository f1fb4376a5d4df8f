import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SecretRefSchema, resolveSecret } from './secret-ref.js';
import { StorageError } from './storage-adapter.js';

describe('secret references', () => {
  it('accepts literals, env names and files, and nothing else', () => {
    expect(SecretRefSchema.safeParse('literal').success).toBe(true);
    expect(SecretRefSchema.safeParse({ env: 'S3_KEY' }).success).toBe(true);
    expect(SecretRefSchema.safeParse({ file: '/run/secrets/k' }).success).toBe(true);
    expect(SecretRefSchema.safeParse({ env: 'not a name' }).success).toBe(false);
    expect(SecretRefSchema.safeParse({ env: 'A', file: '/x' }).success).toBe(false);
    expect(SecretRefSchema.safeParse('').success).toBe(false);
  });

  it('resolves from the given environment and names the field when missing', () => {
    expect(resolveSecret({ env: 'S3_KEY' }, { S3_KEY: 'abc' })).toBe('abc');
    expect(resolveSecret('inline', {})).toBe('inline');
    let err: unknown;
    try {
      resolveSecret({ env: 'S3_KEY' }, {}, 'profiles.main.accessKeyId');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).code).toBe('STORAGE_CONFIG_INVALID');
    expect((err as StorageError).message).toContain('profiles.main.accessKeyId');
    expect((err as StorageError).message).toContain('S3_KEY');
  });

  it('reads files, dropping one trailing newline, and reports unreadable or empty ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'secret-'));
    try {
      await writeFile(join(dir, 'key'), 's3cr3t\n');
      await writeFile(join(dir, 'empty'), '\n');
      expect(resolveSecret({ file: join(dir, 'key') }, {})).toBe('s3cr3t');
      expect(() => resolveSecret({ file: join(dir, 'empty') }, {}, 'f')).toThrow(
        /f: secret file .* is empty/,
      );
      expect(() => resolveSecret({ file: join(dir, 'missing') }, {}, 'g')).toThrow(
        /g: cannot read secret file/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
