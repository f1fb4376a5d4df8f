// Writes docs/openapi.json, the API's OpenAPI document, from the routes' zod schemas (run after the
// build: `npm run -w @recfleet/api openapi`). A test checks the committed file is current.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { openApiDocument } from '../dist/index.js';

const target = fileURLToPath(new URL('../../../docs/openapi.json', import.meta.url));
const options = (await resolveConfig(target)) ?? {};
const text = await format(JSON.stringify(await openApiDocument(), null, 2), { ...options, parser: 'json' });
await writeFile(target, text);
process.stdout.write(`wrote ${target}\n`);
