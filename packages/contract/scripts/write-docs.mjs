// Writes docs/error-codes.md from the error registry (run after the build:
// `npm run -w @recfleet/contract docs`). A test checks the committed file is up to date.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { renderErrorCodesDoc } from '../dist/error-docs.js';

const target = fileURLToPath(new URL('../../../docs/error-codes.md', import.meta.url));
const options = (await resolveConfig(target)) ?? {};
await writeFile(target, await format(renderErrorCodesDoc(), { ...options, parser: 'markdown' }));
process.stdout.write(`wrote ${target}\n`);
