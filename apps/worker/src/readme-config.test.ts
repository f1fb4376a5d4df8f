import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { WorkerConfigSchema } from './config.js';

describe('README', () => {
  it('shows a storage config the worker accepts', async () => {
    const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
    const block = [...readme.matchAll(/```json\n([\s\S]*?)```/g)]
      .map((m) => m[1]!)
      .find((b) => b.includes('"storageProfiles"'));
    expect(block).toBeDefined();
    const parsed = WorkerConfigSchema.safeParse(JSON.parse(block!));
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    expect(
      Object.values(parsed.data!.storageProfiles)
        .map((p) => p.type)
        .sort(),
    ).toEqual(['local', 'oss', 'qiniu', 's3', 's3', 's3']);
  });
});
