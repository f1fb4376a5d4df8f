// Writes schema/recording-job.schema.json from the zod schema (run after the build:
// `npm run -w @recfleet/contract schema`). A test checks the committed file is up to date.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { channelManifestJsonSchema, recordingJobJsonSchema } from '../dist/index.js';

for (const [name, schema] of [
  ['recording-job.schema.json', recordingJobJsonSchema()],
  ['channel-manifest.schema.json', channelManifestJsonSchema()],
]) {
  const target = fileURLToPath(new URL(`../schema/${name}`, import.meta.url));
  const options = (await resolveConfig(target)) ?? {};
  await writeFile(target, await format(JSON.stringify(schema, null, 2), { ...options, parser: 'json' }));
  process.stdout.write(`wrote ${target}\n`);
}
