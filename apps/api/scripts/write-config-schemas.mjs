// Writes the JSON Schemas of the API's and the webhook dispatcher's configs beside the job contract's
// (packages/contract/schema/), from their zod schemas (run after the build: `npm run -w @recfleet/api
// config-schemas`). A test checks the committed files are current.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { apiConfigJsonSchema, webhooksConfigJsonSchema } from '../dist/index.js';

for (const [name, schema] of [
  ['api-config.schema.json', apiConfigJsonSchema()],
  ['webhooks-config.schema.json', webhooksConfigJsonSchema()],
]) {
  const target = fileURLToPath(new URL(`../../../packages/contract/schema/${name}`, import.meta.url));
  const options = (await resolveConfig(target)) ?? {};
  await writeFile(target, await format(JSON.stringify(schema, null, 2), { ...options, parser: 'json' }));
  process.stdout.write(`wrote ${target}\n`);
}
