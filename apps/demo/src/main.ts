#!/usr/bin/env node
/**
 * `./run demo [variant]`: a whole fleet on embedded defaults — a private Redis, an embedded RTMP channel
 * server with test publishers, one worker process and the producer client — records for ~20 s into
 * local storage, prints where the recording is and checks it with FFmpeg. Everything started here is
 * stopped on exit, Ctrl-C included. Exit 0 only when every check is clean; 2 for a bad command line.
 */
import { resolve } from 'node:path';
import { DemoCleanup } from './demo-stack.js';
import { DEFAULT_VARIANT, DEMO_VARIANTS, isDemoVariant } from './variants.js';

function usage(): string {
  const names = Object.keys(DEMO_VARIANTS);
  const width = Math.max(...names.map((n) => n.length));
  const lines = Object.entries(DEMO_VARIANTS).map(
    ([name, v]) => `  ${name.padEnd(width)}  ${v.summary}${name === DEFAULT_VARIANT ? ' (default)' : ''}`,
  );
  return [
    `usage: ./run demo [${names.join(' | ')}]`,
    '',
    'variants:',
    ...lines,
    '',
    'environment:',
    '  RECFLEET_DEMO_SECONDS  how long to record (default 20)',
    '  RECFLEET_DEMO_OUTPUT   where the local storage profile writes (default ./recordings)',
    '',
  ].join('\n');
}

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(usage());
  process.exit(0);
}
const name = args[0] ?? DEFAULT_VARIANT;
const seconds = Number(process.env.RECFLEET_DEMO_SECONDS ?? 20);
const problem =
  args.length > 1
    ? `one variant at most, got: ${args.join(' ')}`
    : !isDemoVariant(name)
      ? `unknown variant "${name}"`
      : !(Number.isFinite(seconds) && seconds >= 4)
        ? `RECFLEET_DEMO_SECONDS must be a number of seconds ≥ 4, got "${process.env.RECFLEET_DEMO_SECONDS}"`
        : undefined;
if (problem !== undefined || !isDemoVariant(name)) {
  process.stderr.write(`recfleet demo: ${problem ?? ''}\n\n${usage()}`);
  process.exit(2);
}

const cleanup = new DemoCleanup();
DEMO_VARIANTS[name]
  .run({ seconds, outputRoot: resolve(process.env.RECFLEET_DEMO_OUTPUT ?? 'recordings') }, cleanup)
  .then(async (code) => {
    await cleanup.run();
    process.exit(code);
  })
  .catch(async (err: unknown) => {
    process.stderr.write(`recfleet demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    await cleanup.run();
    process.exit(1);
  });
for (const sig of ['SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => void cleanup.run().then(() => process.exit(130)));
}
