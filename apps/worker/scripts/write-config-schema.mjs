// Writes the JSON Schema of the worker's config beside the job contract's
// (packages/contract/schema/worker-config.schema.json), from its zod schema (run after the build:
// `npm run -w @recfleet/worker config-schema`). A test checks the committed file is current.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { workerConfigJsonSchema } from '../dist/config.js';

const target = fileURLToPath(
  new URL('../../../packages/contract/schema/worker-config.schema.json', import.meta.url),
);
const options = (await resolveConfig(target)) ?? {};
await writeFile(
  target,
  await format(JSON.stringify(workerConfigJsonSchema(), null, 2), { ...options, parser: 'json' }),
);
process.stdout.write(`wrote ${target}\n`);
