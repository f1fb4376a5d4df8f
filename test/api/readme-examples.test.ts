/**
 * The README's examples, run as a reader runs them against a real fleet (a private Redis, the embedded
 * channel server with two users publishing, a worker, the API process with its webhook dispatcher):
 * the `curl` block of "Producer API" (every route), the webhook receiver of "Webhooks" (with the
 * standardwebhooks package), the TypeScript snippet (it must end: its client is closed), and
 * examples/python/recfleet_example.py with Debian's python3. Only addresses change: the API's
 * `http://127.0.0.1:8080` and the receiver's port 3000 are the test's free ports.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, ManagedProcess } from '@recfleet/embedded';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiProcess } from '../src/harness/api-process.js';
import { ChannelFleet, scaled } from '../src/harness/channel-fleet.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KEY = 'readme-key-0123456789abcdef';
const SECRET = `whsec_${Buffer.from('readme-webhook-key-0123456789abc').toString('base64')}`;
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

let fleet: ChannelFleet;
let api: ManagedProcess & { baseUrl: string };
let receiver: ManagedProcess;
let receiverPort: number;
/** Everything the receiver printed (ManagedProcess keeps only part of it). */
let received = '';
/** Where the extracted examples are written: under node_modules, so that they resolve the packages. */
let dir: string;
let token: string;

/** The one fenced block of `lang` in the README that contains `marker`. */
async function readmeBlock(lang: string, marker: string): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(new RegExp(`^\`\`\`${lang}\\n([\\s\\S]*?)^\`\`\`$`, 'gm'))]
    .map((m) => m[1]!)
    .filter((b) => b.includes(marker));
  expect(blocks, `README blocks of ${lang} with ${marker}`).toHaveLength(1);
  return blocks[0]!;
}

function run(
  command: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: dir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(ROOT, 'node_modules', '.readme-examples-'));
  fleet = await ChannelFleet.start();
  await fleet.worker('a');
  await fleet.publish('demo', 'lobby', 1);
  await fleet.publish('demo', 'lobby', 2);
  token = fleet.server.channelToken('demo', 'lobby');

  receiverPort = await freePort();
  await writeFile(join(dir, 'receiver.mjs'), await readmeBlock('js', "from 'standardwebhooks'"));
  receiver = new ManagedProcess('receiver', process.execPath, [join(dir, 'receiver.mjs')], {
    env: { ...process.env, PORT: String(receiverPort), RECFLEET_WEBHOOK_SECRET: SECRET },
  });
  receiver.child.stdout?.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
  // Up when it answers: an unsigned request is refused with 401.
  for (let i = 0; ; i++) {
    const status = await fetch(`http://127.0.0.1:${receiverPort}/`, { method: 'POST' }).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 401) break;
    if (i > 100) throw new Error(`the README's receiver did not start: ${receiver.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  api = await startApiProcess({ redisUrl: fleet.redis.url, apiKeys: [KEY], webhookSecret: SECRET });
});

afterAll(async () => {
  await api?.stop();
  await receiver?.stop();
  await fleet?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the README examples', () => {
  it('the curl block runs every route; the webhook receiver verifies every event it gets', async () => {
    const block = (await readmeBlock('sh', 'export API=http://127.0.0.1:8080'))
      .replace('http://127.0.0.1:8080', api.baseUrl)
      .replace('127.0.0.1:3000', `127.0.0.1:${receiverPort}`);
    const r = await run(
      'bash',
      ['-euo', 'pipefail', '-c', block],
      { RECFLEET_API_KEY: KEY, TOKEN: token },
      scaled(90_000),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const out = r.stdout;
    expect(out).toContain('{"status":"ok","redis":"up"}');
    expect(out).toContain('{"status":"ok","redis":"up"}{"status":"ok"}');
    expect(JSON.parse(await readFile(join(dir, 'openapi.json'), 'utf8'))).toMatchObject({ openapi: '3.1.0' });
    // (curl prints no newline after a JSON answer: the outputs follow each other.)
    expect(out).toContain('recfleet_api_requests_total{method="GET",route="/healthz",status="200"} 1\n');
    expect(out).toContain('{"recordingId":"lobby-2024-06-01","created":true');
    expect(out).toMatch(
      /"recordingId":"lobby-2024-06-01","state":"(queued|joining|recording)".*"kind":"channel"/,
    );
    expect(out).toMatch(/\{"recordings":\[\{"recordingId":"lobby-2024-06-01"/);
    expect(out).toContain(
      '"subscriptions":{"subscribeAudioUids":[1,2],"unsubscribeVideoUids":[3]},"version":1',
    );
    expect(out).toContain('"requested":"stop"');
    for (const type of ['started', 'user_joined', 'updated', 'segment', 'stopped', 'uploaded']) {
      expect(out, type).toContain(`event: ${type}\n`);
    }
    expect(out).toMatch(
      /"status":409,.*"code":"RECORDING_ENDED".*"recordingId":"lobby-2024-06-01","state":"uploaded"/,
    );

    // The receiver printed each event once, verified, up to `uploaded`.
    await expect.poll(() => received.includes('lobby-2024-06-01 uploaded {'), { timeout: 15_000 }).toBe(true);
    const types = received
      .split('\n')
      .filter((l) => l.startsWith('lobby-2024-06-01 '))
      .map((l) => l.split(' ')[1]);
    expect(types[0]).toBe('queued');
    for (const type of ['started', 'updated', 'segment', 'stopped', 'uploaded']) {
      expect(types, types.join(' ')).toContain(type);
    }
    // Once each: the receiver de-duplicates by webhook-id.
    expect(types.filter((t) => t === 'uploaded')).toHaveLength(1);
  });

  it('the TypeScript snippet records, follows to the end and exits', async () => {
    const source = (await readmeBlock('ts', 'token: process.env.TOKEN')).replace(
      "'redis://127.0.0.1:6379'",
      JSON.stringify(fleet.redis.url),
    );
    const js = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    await writeFile(join(dir, 'snippet.mjs'), js);
    const r = await run(process.execPath, [join(dir, 'snippet.mjs')], { TOKEN: token }, scaled(60_000));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^started /m);
    expect(r.stdout).toMatch(/^uploaded /m);
    expect(r.stdout).toMatch(/^true (queued|joining|recording) \d+$/m);
  });

  it('examples/python/recfleet_example.py starts, follows (SSE) and stops a recording', async () => {
    const python = (uid: number, extra: string[], timeoutMs: number) =>
      run(
        PYTHON,
        [
          join(ROOT, 'examples/python/recfleet_example.py'),
          '--app-id',
          'demo',
          '--channel',
          'lobby',
          '--uid',
          String(uid),
          ...extra,
        ],
        { RECFLEET_API_URL: api.baseUrl, RECFLEET_API_KEY: KEY },
        scaled(timeoutMs),
      );
    const r = await python(1003, ['--token', token, '--seconds', '6'], 60_000);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/^recording rec-[0-9a-f]+ \(started\)$/m);
    for (const type of ['queued', 'started', 'user_joined', 'segment', 'stopped', 'uploaded']) {
      expect(r.stdout, type).toMatch(new RegExp(`^${type} \\{`, 'm'));
    }
    expect(r.stdout).toMatch(/^stop: (recording|stopping)$/m);

    // A refused start: the problem's fields, exit code 2.
    const refused = await python(0, [], 20_000);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^refused: 400 INVALID_JOB: /m);
    expect(refused.stderr).toMatch(/^ {2}uid: /m);
  });
});
