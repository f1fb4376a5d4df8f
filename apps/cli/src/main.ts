#!/usr/bin/env node
import { runCli } from './run.js';

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
// Connections are closed; exit now rather than wait for sockets' timers to drain.
process.stdout.write('', () => process.exit(code));
