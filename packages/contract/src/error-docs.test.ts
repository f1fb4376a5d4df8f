import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { describe, expect, it } from 'vitest';
import { renderErrorCodesDoc } from './error-docs.js';
import { ERROR_CATEGORIES, ERROR_CODES } from './error-registry.js';

const committed = fileURLToPath(new URL('../../../docs/error-codes.md', import.meta.url));

describe('docs/error-codes.md', () => {
  it('is the document rendered from the registry (npm run -w @recfleet/contract docs)', async () => {
    const options = (await resolveConfig(committed)) ?? {};
    const rendered = await format(renderErrorCodesDoc(), { ...options, parser: 'markdown' });
    expect(await readFile(committed, 'utf8')).toBe(rendered);
  });

  it('names every code and every category with its status, exit code and retry', () => {
    const doc = renderErrorCodesDoc();
    for (const code of Object.keys(ERROR_CODES)) expect(doc).toContain(`| \`${code}\` |`);
    for (const [name, c] of Object.entries(ERROR_CATEGORIES)) {
      expect(doc).toContain(`| \`${name}\` | ${c.httpStatus} | ${c.exitCode} | ${c.retry ? 'yes' : 'no'} |`);
    }
  });
});
