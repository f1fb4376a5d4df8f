import { fileURLToPath } from 'node:url';
import type { FleetFixture } from '../src/harness/fleet-fixture.js';
import { type NodeRun, runNode } from '../src/harness/run-node.js';

/** The built CLI, run as users run it. */
export const CLI_MAIN = fileURLToPath(new URL('../../apps/cli/dist/main.js', import.meta.url));

export type CliRun = NodeRun;

/** Runs `recfleet <args>` in its own process with `env` added to this one's; resolves when it exits. */
export function runCliProcess(args: readonly string[], env: Record<string, string>): Promise<CliRun> {
  return runNode(CLI_MAIN, args, { ...process.env, ...env });
}

/** `recfleet start` of the fixture's live stream (uid `uid`: one active recording per uid), 1 s segments. */
export function startArgs(fleet: FleetFixture, uid: number, extra: readonly string[] = []): string[] {
  return [
    'start',
    '--app-id',
    fleet.app,
    '--channel',
    fleet.channel,
    '--uid',
    String(uid),
    '--token',
    'cli-secret-token',
    '--segment-seconds',
    '1',
    '--max-idle-seconds',
    '10',
    '--profile',
    'local',
    '--source-url',
    fleet.sourceUrl,
    ...extra,
  ];
}
