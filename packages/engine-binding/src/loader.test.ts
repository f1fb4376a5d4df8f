import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecorderError } from './errors.js';
import { loadAddon, loadAddonFrom } from './loader.js';
import { tempDir } from './test-support.js';

let dir: { path: string; remove(): Promise<void> };
beforeAll(async () => {
  dir = await tempDir('loader');
});
afterAll(async () => {
  await dir?.remove();
});

describe('native loader', () => {
  it('loads the built addon', () => {
    const addon = loadAddon();
    expect(typeof addon.NativeRecorder).toBe('function');
    expect(addon.counters()).toMatchObject({ activeRecorders: expect.any(Number) as number });
  });

  it('explains every failed candidate and the fixes in one NATIVE_LOAD_FAILED error', () => {
    const missing = join(dir.path, 'missing.node');
    const broken = join(dir.path, 'broken.node');
    writeFileSync(broken, 'not a shared object');
    let error: unknown;
    try {
      loadAddonFrom([missing, broken]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(RecorderError);
    const e = error as RecorderError;
    expect(e.code).toBe('NATIVE_LOAD_FAILED');
    expect(e.message).toContain(`${missing}: not built`);
    expect(e.message).toContain(broken);
    expect(e.message).toContain('npm run build:native');
    expect(e.message).toContain('libavformat-dev');
  });
});
