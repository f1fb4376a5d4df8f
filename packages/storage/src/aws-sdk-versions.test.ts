import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * The S3 client, its multipart uploader and its presigner are released together and share internal
 * packages: versions that drift apart can bring in two copies of the SDK core and its middleware. They
 * are pinned to one version, wherever the repository names them, and move in step.
 */
const manifests = ['../package.json', '../../../test/package.json'].map(
  (p) =>
    JSON.parse(readFileSync(new URL(p, import.meta.url), 'utf8')) as { dependencies: Record<string, string> },
);

describe('AWS SDK packages', () => {
  it('are pinned to one version, and that version is the one installed', () => {
    const specs = manifests.flatMap((m) =>
      Object.entries(m.dependencies).filter(([name]) => name.startsWith('@aws-sdk/')),
    );
    expect(specs.map(([name]) => name).sort()).toEqual([
      '@aws-sdk/client-s3',
      '@aws-sdk/client-s3',
      '@aws-sdk/lib-storage',
      '@aws-sdk/s3-request-presigner',
    ]);
    const versions = new Set(specs.map(([, spec]) => spec));
    expect(versions.size).toBe(1);
    const [version] = versions;
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    const require = createRequire(import.meta.url);
    for (const [name] of specs) {
      const installed = require(`${name}/package.json`) as { version: string };
      expect(installed.version, name).toBe(version);
    }
  });
});
