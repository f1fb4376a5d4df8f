import { execFile } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { ChannelServer, ChannelUserPublisher, freePort } from '@recfleet/embedded';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelDirectoryEvents, ChannelMembership } from './channel-directory.js';
import { createLogger } from '../logger.js';
import { NodeMediaServerDirectory } from './node-media-server-directory.js';

const run = promisify(execFile);
const APP = 'app1';
const RECORDER_UID = 999;
const SMALL = { width: 320, height: 180, frameRate: 15 } as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Seen = {
  [E in keyof ChannelDirectoryEvents]: { event: E; at: number; data: ChannelDirectoryEvents[E][0] };
}[keyof ChannelDirectoryEvents];

/** Every event of a membership, with when it arrived here. */
function record(membership: ChannelMembership): Seen[] {
  const seen: Seen[] = [];
  membership.on('user_joined', (data) => seen.push({ event: 'user_joined', at: Date.now(), data }));
  membership.on('user_left', (data) => seen.push({ event: 'user_left', at: Date.now(), data }));
  membership.on('user_changed', (data) => seen.push({ event: 'user_changed', at: Date.now(), data }));
  return seen;
}

async function waitFor<E extends Seen['event']>(
  seen: Seen[],
  event: E,
  uid: number,
  timeoutMs = 5000,
): Promise<Extract<Seen, { event: E }>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = seen.find((s): s is Extract<Seen, { event: E }> => s.event === event && s.data.uid === uid);
    if (hit) return hit;
    if (Date.now() > deadline)
      throw new Error(`no ${event} of ${uid} within ${timeoutMs} ms: ${JSON.stringify(seen)}`);
    await sleep(10);
  }
}

let server: ChannelServer;
const open: { close(): Promise<unknown> }[] = [];
const publishers: ChannelUserPublisher[] = [];

beforeAll(async () => {
  server = await ChannelServer.start();
});
afterEach(async () => {
  await Promise.all(publishers.splice(0).map((p) => p.stop().catch(() => undefined)));
  await Promise.all(open.splice(0).map((m) => m.close()));
});
afterAll(async () => {
  await server?.stop();
});

function directory(
  apiUrl = server.apiUrl,
  unreachableTimeoutMs?: number,
  logLines?: string[],
): NodeMediaServerDirectory {
  return new NodeMediaServerDirectory({
    rtmpUrl: server.rtmpBaseUrl,
    apiUrl,
    apiSecret: server.apiSecret,
    ...(unreachableTimeoutMs === undefined ? {} : { unreachableTimeoutMs }),
    ...(logLines ? { log: createLogger('info', { write: (line: string) => logLines.push(line) }) } : {}),
  });
}

async function join(channel: string, dir = directory()): Promise<ChannelMembership> {
  const membership = await dir.join({
    appId: APP,
    channel,
    recorderUid: RECORDER_UID,
    token: server.channelToken(APP, channel, 600),
  });
  open.push(membership);
  return membership;
}

async function publish(
  channel: string,
  uid: number,
  media: { audio?: boolean; video?: boolean } = {},
): Promise<ChannelUserPublisher> {
  const p = await ChannelUserPublisher.start({ server, appId: APP, channel, uid, ...SMALL, ...media });
  publishers.push(p);
  return p;
}

describe('NodeMediaServerDirectory: who is in the channel', () => {
  it('reports three users joining at different times and one leaving within 1 s each, with what they publish', async () => {
    const membership = await join('three users');
    expect(membership.users()).toEqual([]);
    const seen = record(membership);

    const both = await publish('three users', 1);
    const joined1 = await waitFor(seen, 'user_joined', 1);
    await sleep(400);
    const audioOnly = await publish('three users', 2, { video: false });
    const joined2 = await waitFor(seen, 'user_joined', 2);
    await sleep(400);
    const videoOnly = await publish('three users', 3, { audio: false });
    const joined3 = await waitFor(seen, 'user_joined', 3);

    for (const [joined, p] of [
      [joined1, both],
      [joined2, audioOnly],
      [joined3, videoOnly],
    ] as const) {
      expect(joined.at - p.publishedAt).toBeLessThan(1000);
      expect(Math.abs(joined.data.since - p.publishedAt)).toBeLessThan(1000);
    }
    expect(joined1.data).toMatchObject({ uid: 1, audio: true, video: true });
    expect(joined2.data).toMatchObject({ uid: 2, audio: true, video: false });
    expect(joined3.data).toMatchObject({ uid: 3, audio: false, video: true });

    const leftAt = await audioOnly.stop();
    const left = await waitFor(seen, 'user_left', 2);
    expect(left.at - leftAt).toBeLessThan(1000);
    expect(left.data.at - leftAt).toBeLessThan(1000);

    expect(membership.users().map(({ uid, audio, video }) => ({ uid, audio, video }))).toEqual([
      { uid: 1, audio: true, video: true },
      { uid: 3, audio: false, video: true },
    ]);
    expect(seen.map((s) => `${s.event} ${s.data.uid}`)).toEqual([
      'user_joined 1',
      'user_joined 2',
      'user_joined 3',
      'user_left 2',
    ]);
  });

  it("lists users already there when join resolves, the recorder's uid too, and gives URLs that play with the token", async () => {
    await publish('already', 5);
    await publish('already', RECORDER_UID, { video: false });
    const token = server.channelToken(APP, 'already', 600);
    const membership = await directory().join({
      appId: APP,
      channel: 'already',
      recorderUid: RECORDER_UID,
      token,
    });
    open.push(membership);
    expect(membership.users().map(({ uid, audio, video }) => ({ uid, audio, video }))).toEqual([
      { uid: 5, audio: true, video: true },
      { uid: RECORDER_UID, audio: true, video: false },
    ]);
    const url = membership.sourceUrl(5);
    expect(url).toBe(`${server.rtmpBaseUrl}/app1/already_u5?sign=${token}`);
    const { stdout } = await run(
      'ffprobe',
      ['-v', 'error', '-show_entries', 'stream=codec_type', '-of', 'csv=p=0', url],
      {
        timeout: 15_000,
      },
    );
    expect(stdout.trim().split('\n').sort()).toEqual(['audio', 'video']);
  });

  it('reports a user who leaves and comes back as a leave and a new join', async () => {
    const membership = await join('again');
    const seen = record(membership);
    const first = await publish('again', 7);
    await waitFor(seen, 'user_joined', 7);
    await first.stop();
    const second = await publish('again', 7);
    await waitFor(seen, 'user_left', 7);
    await sleep(1000);
    expect(seen.map((s) => `${s.event} ${s.data.uid}`)).toEqual([
      'user_joined 7',
      'user_left 7',
      'user_joined 7',
    ]);
    expect(seen[2]!.at - second.publishedAt).toBeLessThan(1000);
    expect(membership.users().map((u) => u.uid)).toEqual([7]);
  });

  it('keeps its users through an API outage, and lets them go once it outlasts unreachableTimeoutMs', async () => {
    const gate = await ApiGate.start(server.httpPort);
    open.push(gate);
    await publish('outage', 1);
    const logLines: string[] = [];
    const membership = await join('outage', directory(gate.url, 2500, logLines));
    const seen = record(membership);
    expect(membership.users().map((u) => u.uid)).toEqual([1]);

    gate.down();
    await sleep(1500);
    gate.up();
    await sleep(1500);
    expect(seen).toEqual([]);
    expect(membership.users().map((u) => u.uid)).toEqual([1]);

    const downAt = Date.now();
    gate.down();
    const left = await waitFor(seen, 'user_left', 1, 8000);
    // Left when the API answered last, after the outage lasted unreachableTimeoutMs.
    expect(left.data.at).toBeLessThanOrEqual(downAt);
    expect(left.data.at).toBeGreaterThan(downAt - 1000);
    expect(left.at - downAt).toBeGreaterThanOrEqual(2500);
    gate.up();
    await waitFor(seen, 'user_joined', 1, 5000);
    expect(membership.users().map((u) => u.uid)).toEqual([1]);
    // Each outage is logged once however many polls fail, and no line holds the token.
    const messages = logLines.map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(messages.filter((m) => m.includes('does not answer'))).toHaveLength(2);
    expect(messages.filter((m) => m.includes('answers again'))).toHaveLength(2);
    expect(messages.filter((m) => m.includes('count as left'))).toHaveLength(1);
    const digest = membership.sourceUrl(1).split('-').pop()!;
    expect(logLines.join('\n')).not.toContain(digest);
  });

  it('stops following the channel on close(), which may be called twice', async () => {
    const membership = await join('closing');
    const seen = record(membership);
    await membership.close();
    await membership.close();
    await publish('closing', 1);
    await sleep(800);
    expect(seen).toEqual([]);
  });
});

/** A TCP forwarder to the API that can go down (connections dropped and refused) and come back. */
class ApiGate {
  private readonly sockets = new Set<Socket>();
  private isDown = false;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(targetPort: number): Promise<ApiGate> {
    const port = await freePort();
    const holder: { gate?: ApiGate } = {};
    const server = createServer((client) => {
      const gate = holder.gate!;
      if (gate.isDown) return client.destroy();
      const upstream = connect(targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        gate.sockets.add(s);
        s.on('error', () => undefined).on('close', () => {
          gate.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    holder.gate = new ApiGate(server, `http://127.0.0.1:${port}`);
    return holder.gate;
  }

  down(): void {
    this.isDown = true;
    for (const s of this.sockets) s.destroy();
  }

  up(): void {
    this.isDown = false;
  }

  async close(): Promise<void> {
    this.down();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
