// Writes schema/recording-job.schema.json from the zod schema (run after the build:
// `npm run -w @recfleet/contract schema`). A test checks the committed file is up to date.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { recordingJobJsonSchema } from '../dist/index.js';

const target = fileURLToPath(new URL('../schema/recording-job.schema.json', import.meta.url));
const options = (await resolveConfig(target)) ?? {};
const text = await format(JSON.stringify(recordingJobJsonSchema(), null, 2), { ...options, parser: 'json' });
await writeFile(target, text);
process.stdout.write(`wrote ${target}\n`);
