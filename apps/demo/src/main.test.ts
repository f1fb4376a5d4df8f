/**
 * The demo as a user runs it: the compiled program in its own process, its command line, and the
 * default variant end to end (a short recording of a channel of two users, every check of its own).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_VARIANTS } from './variants.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const execFileAsync = promisify(execFile);

/** Runs the built demo with `env` added to this process's; resolves with how it exited, whatever the code. */
async function runDemo(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [MAIN, ...args], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === 'number' ? e.code : null,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
    };
  }
}

describe('the demo command line', () => {
  it('lists every variant in --help and exits 0', async () => {
    const r = await runDemo(['--help']);
    expect(r.code).toBe(0);
    for (const name of Object.keys(DEMO_VARIANTS)) expect(r.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    expect(r.stdout).toContain('(default)');
  });

  it('refuses an unknown variant with the usage and exit code 2', async () => {
    const r = await runDemo(['mixx']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown variant "mixx"');
    expect(r.stderr).toContain('usage: ./run demo [channel | single]');
    expect(r.stdout).toBe('');
  });

  it('refuses a recording length that is not a number of seconds', async () => {
    const r = await runDemo([], { RECFLEET_DEMO_SECONDS: 'soon' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('RECFLEET_DEMO_SECONDS');
  });
});

describe('./run demo (channel of two users)', () => {
  it('records both users into their own playlists and the manifest, and its checks pass', async () => {
    const out = await mkdtemp(join(tmpdir(), 'recfleet-demo-test-'));
    dirs.push(out);
    const r = await runDemo([], { RECFLEET_DEMO_SECONDS: '8', RECFLEET_DEMO_OUTPUT: out });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    // Joins and leaves were shown as the recorder saw them.
    expect(r.stdout).toMatch(/user 1001 joined \(audio\+video\), recorded in track 1001-av/);
    expect(r.stdout).toMatch(/user 1002 joined \(audio\+video\), recorded in track 1002-av/);
    expect(r.stdout).toMatch(/user 1002 left the channel/);
    expect(r.stdout.match(/verified {2}ffmpeg read the whole playlist without a single error/g)).toHaveLength(
      2,
    );
    expect(r.stdout).toContain('every check is clean');
    const files = await readdir(out);
    // Each user's complete playlist, and the live one beside it.
    expect(files.filter((f) => f.endsWith('.m3u8')).sort()).toEqual([
      expect.stringMatching(/_lobby__uid_s_1001__uid_e_av\.live\.m3u8$/),
      expect.stringMatching(/_lobby__uid_s_1001__uid_e_av\.m3u8$/),
      expect.stringMatching(/_lobby__uid_s_1002__uid_e_av\.live\.m3u8$/),
      expect.stringMatching(/_lobby__uid_s_1002__uid_e_av\.m3u8$/),
    ]);
    expect(files.filter((f) => f.endsWith('.json'))).toEqual([expect.stringMatching(/_lobby\.json$/)]);
    // The job's channel token never reaches the output.
    expect(r.stdout).not.toMatch(/sign=/);
  }, 120_000);
});
