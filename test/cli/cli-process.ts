import { fileURLToPath } from 'node:url';
import { type NodeRun, runNode } from '../src/harness/run-node.js';

/** The built CLI, run as users run it. */
export const CLI_MAIN = fileURLToPath(new URL('../../apps/cli/dist/main.js', import.meta.url));

export type CliRun = NodeRun;

/** Runs `recfleet <args>` in its own process with `env` added to this one's; resolves when it exits. */
export function runCliProcess(args: readonly string[], env: Record<string, string>): Promise<CliRun> {
  return runNode(CLI_MAIN, args, { ...process.env, ...env });
}
