/**
 * The `recfleet` CLI as users run it: the built `dist/cli/main.js` in its own process, against a real
 * fleet (private Redis, a live RTMP channel, a worker process, local storage).
 */
import { RECORDINGS_QUEUE } from '@recfleet/contract';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetFixture } from '../src/harness/fleet-fixture.js';
import { type CliRun, runCliProcess, startArgs } from './cli-process.js';

const scale = Number(process.env.RECFLEET_TEST_TIMEOUT_SCALE ?? 1);

let fleet: FleetFixture;

function cli(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  return runCliProcess(args, { RECFLEET_REDIS_URL: fleet?.redis.url ?? 'redis://127.0.0.1:1', ...env });
}

beforeAll(async () => {
  fleet = await FleetFixture.start({ channel: 'cli' });
  await fleet.worker('a');
});
afterAll(async () => {
  await fleet?.stop();
});

describe('recfleet --help', () => {
  it('documents the tool and every command, exit code 0', async () => {
    const tool = await cli(['--help']);
    expect(tool.code).toBe(0);
    for (const c of ['start', 'stop', 'cancel', 'status', 'list', 'watch', '--redis-url', '--json']) {
      expect(tool.stdout).toContain(c);
    }
    const flags: Record<string, string[]> = {
      start: [
        '--app-id',
        '--channel',
        '--uid',
        '--token',
        '--segment-seconds',
        '--max-idle-seconds',
        '--stream-types',
        '--max-duration-seconds',
        '--profile',
        '--prefix',
        '--recording-id',
      ],
      stop: ['<id>'],
      cancel: ['<id>'],
      status: ['<id>'],
      list: ['--state', '--channel', '--limit'],
      watch: ['<id>'],
    };
    const runs = await Promise.all(Object.keys(flags).map((c) => cli([c, '--help'])));
    Object.entries(flags).forEach(([command, expected], i) => {
      const run = runs[i]!;
      expect(run.code, command).toBe(0);
      expect(run.stdout).toContain(`recfleet ${command}`);
      for (const f of [...expected, '--json', '--redis-url', '--help'])
        expect(run.stdout, command).toContain(f);
    });
  });
});

describe('errors and exit codes', () => {
  it('a refused start exits 2 and names every bad field with its rule', async () => {
    const run = await cli([
      'start',
      '--channel',
      'x',
      '--uid',
      'abc',
      '--segment-seconds',
      '99',
      '--stream-types',
      'smell',
      '--profile',
      'local',
    ]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trim().split('\n');
    expect(lines.some((l) => l.includes('--app-id') && l.includes('is required'))).toBe(true);
    expect(lines.some((l) => l.includes('--uid') && l.includes('must be a number'))).toBe(true);
    expect(lines.some((l) => l.includes('--segment-seconds') && l.includes('60'))).toBe(true);
    expect(lines.some((l) => l.includes('--stream-types') && l.includes('both'))).toBe(true);
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace

    const json = await cli([...startArgs(fleet, 0, ['--segment-seconds', '0']), '--json']);
    expect(json.code).toBe(2);
    const doc = JSON.parse(json.stdout) as {
      error: { code: string; problems: { field: string; rule: string }[] };
    };
    expect(doc.error.code).toBe('INVALID_JOB');
    expect(doc.error.problems.map((p) => p.field).sort()).toEqual(['recordingConfig.segmentSeconds', 'uid']);
  });

  it('unknown flags and missing ids are usage errors (2)', async () => {
    expect((await cli(['start', '--bogus'])).code).toBe(2);
    expect((await cli(['status'])).code).toBe(2);
    expect((await cli(['frobnicate'])).code).toBe(2);
  });

  it('an unknown recording id exits 4', async () => {
    for (const command of ['status', 'stop', 'cancel', 'watch']) {
      const run = await cli([command, 'no-such-recording', '--json']);
      expect(run.code, command).toBe(4);
      expect(run.stderr).toContain('no recording with id no-such-recording');
      expect((JSON.parse(run.stdout) as { error: { code: string } }).error.code).toBe('RECORDING_NOT_FOUND');
    }
  });

  it('--key-prefix (or RECFLEET_KEY_PREFIX) names the fleet whose keys it reads', async () => {
    const started = await cli([...startArgs(fleet, 4242), '--json']);
    expect(started.code, started.stderr).toBe(0);
    const { recordingId } = JSON.parse(started.stdout) as { recordingId: string };
    expect((await cli(['status', recordingId, '--key-prefix', 'recfleet'])).code).toBe(0);
    expect((await cli(['status', recordingId, '--key-prefix', '{elsewhere}'])).code).toBe(4);
    expect((await cli(['cancel', recordingId])).code).toBe(0);
    const bad = await cli(['list', '--key-prefix', 'two words']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--key-prefix');
  });

  it('an unreachable Redis exits 5 with one line', async () => {
    const run = await cli(['list', '--redis-url', 'redis://127.0.0.1:1']);
    expect(run.code).toBe(5);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain('not reachable');
  });
});

describe('a recording driven from the command line', () => {
  it(
    'start, status, list, stop; watch exits 0 when it is uploaded',
    async () => {
      const started = await cli([...startArgs(fleet, 11), '--json']);
      expect(started.code, started.stderr).toBe(0);
      const { recordingId, created } = JSON.parse(started.stdout) as {
        recordingId: string;
        created: boolean;
      };
      expect(recordingId).toMatch(/^rec-/);
      expect(created).toBe(true);

      // watch follows it from the start, in its own process, until the outcome.
      const watching = cli(['watch', recordingId, '--json']);

      type Status = {
        state: string;
        progress: { segments: number } | null;
        result: { outcome: string } | null;
      };
      let status: Status | undefined;
      await expect
        .poll(
          async () => {
            const run = await cli(['status', recordingId, '--json']);
            expect(run.code).toBe(0);
            status = JSON.parse(run.stdout) as Status;
            return status.state === 'recording' && (status.progress?.segments ?? 0) >= 2;
          },
          { timeout: 30_000 * scale, interval: 500 },
        )
        .toBe(true);

      const list = await cli(['list', '--json']);
      expect(list.code).toBe(0);
      const all = JSON.parse(list.stdout) as { recordingId: string; state: string; channel: string }[];
      expect(all.find((r) => r.recordingId === recordingId)).toMatchObject({
        state: 'recording',
        channel: 'cli',
      });
      const recording = JSON.parse((await cli(['list', '--json', '--state', 'recording'])).stdout) as {
        recordingId: string;
      }[];
      expect(recording.map((r) => r.recordingId)).toContain(recordingId);
      const elsewhere = JSON.parse(
        (await cli(['list', '--json', '--channel', 'elsewhere'])).stdout,
      ) as unknown[];
      expect(elsewhere).toEqual([]);
      const table = await cli(['list']);
      expect(table.stdout).toContain(recordingId);
      expect(table.stdout).not.toContain('cli-secret-token');

      const stop = await cli(['stop', recordingId]);
      expect(stop.code, stop.stderr).toBe(0);
      expect(stop.stdout).toContain(`stop requested for ${recordingId}`);

      const watched = await watching;
      expect(watched.code, watched.stderr).toBe(0);
      const lines = watched.stdout
        .trim()
        .split('\n')
        .map(
          (l) =>
            JSON.parse(l) as {
              type: string;
              outcome?: string;
              exitCode?: number;
              progress: { segments: number };
            },
        );
      expect(lines[0]?.type).toBe('queued');
      expect(lines.some((l) => l.type === 'segment')).toBe(true);
      expect(lines.at(-2)?.type).toBe('uploaded');
      expect(lines.at(-1)).toMatchObject({ type: 'outcome', outcome: 'uploaded', exitCode: 0 });
      expect(lines.at(-1)!.progress.segments).toBeGreaterThanOrEqual(2);

      const after = JSON.parse((await cli(['status', recordingId, '--json'])).stdout) as Status;
      expect(after.state).toBe('uploaded');
      expect(after.result?.outcome).toBe('uploaded');
      const human = await cli(['status', recordingId]);
      expect(human.stdout).toMatch(/state\s+uploaded/);
      expect(human.stdout).toMatch(/playlist\s+\//);

      // Watching a finished recording replays it and exits with its outcome; without a TTY, plain lines.
      const again = await cli(['watch', recordingId]);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain(`${recordingId} uploaded`);
      expect(again.stdout).not.toContain('\x1b[');

      const out = await fleet.verify(recordingId);
      expect(out.ended).toBe(true);
      expect(out.errors).toBe('');
    },
    120_000 * scale,
  );

  it(
    'cancel ends a recording; a recording cancelled before it ran makes watch exit 1',
    async () => {
      const started = await cli(startArgs(fleet, 12));
      expect(started.code, started.stderr).toBe(0);
      const recordingId = started.stdout.trim();
      await expect
        .poll(async () => JSON.parse((await cli(['status', recordingId, '--json'])).stdout).state, {
          timeout: 30_000 * scale,
          interval: 500,
        })
        .toBe('recording');
      const cancel = await cli(['cancel', recordingId, '--json']);
      expect(cancel.code).toBe(0);
      expect(JSON.parse(cancel.stdout)).toMatchObject({ recordingId, requested: 'cancel' });
      const watched = await cli(['watch', recordingId, '--json']);
      expect([0, 3]).toContain(watched.code);

      // Cancelled while still queued (the queue is paused): it fails without a terminal event.
      const queue = new Queue(RECORDINGS_QUEUE, {
        connection: new Redis(fleet.redis.url, { maxRetriesPerRequest: null }),
        prefix: 'recfleet',
      });
      await queue.pause();
      try {
        const queued = await cli(startArgs(fleet, 13, ['--recording-id', 'cli-cancel-queued']));
        expect(queued.code, queued.stderr).toBe(0);
        expect((await cli(['cancel', 'cli-cancel-queued'])).code).toBe(0);
        const failed = await cli(['watch', 'cli-cancel-queued']);
        expect(failed.code).toBe(1);
        expect(failed.stderr).toContain('CANCELLED');
        // Over: stopping it again is a conflict (exit 6), in the words of the API's 409.
        const again = await cli(['stop', 'cli-cancel-queued', '--json']);
        expect(again.code).toBe(6);
        expect(again.stderr).toContain(
          'recording cli-cancel-queued has already ended (state failed); there is nothing to stop',
        );
        expect(JSON.parse(again.stdout)).toMatchObject({
          error: { code: 'RECORDING_ENDED', exitCode: 6, recordingId: 'cli-cancel-queued', state: 'failed' },
        });
      } finally {
        await queue.resume();
        await queue.close();
      }
    },
    120_000 * scale,
  );
});
