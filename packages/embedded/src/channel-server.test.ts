import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelServer, type ChannelEvent } from './channel-server.js';
import { ChannelUserPublisher } from './channel-user-publisher.js';
import { TestPublisher } from './test-publisher.js';

const run = promisify(execFile);
const APP = 'app1';
const SMALL = { width: 320, height: 180, frameRate: 15 } as const;

/** The stream types (and frame size) a player of `url` gets. */
async function probe(url: string): Promise<string[]> {
  const { stdout } = await run(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'stream=codec_type,width,height', '-of', 'csv=p=0', url],
    { timeout: 15_000 },
  );
  return stdout
    .trim()
    .split('\n')
    .map((l) => l.replace(/,+$/, ''))
    .sort();
}

let server: ChannelServer;
const events: ChannelEvent[] = [];
beforeAll(async () => {
  server = await ChannelServer.start();
  server.onEvent((e) => events.push(e));
});
afterAll(async () => {
  await server?.stop();
});

describe('ChannelServer', () => {
  it('shows a leave at once, and a left publisher is not publishing', async () => {
    const user = await ChannelUserPublisher.start({ server, appId: APP, channel: 'leave', uid: 1, ...SMALL });
    expect(server.isPublishing(user.streamPath)).toBe(true);
    expect(user.sessionId).toMatch(/\w+/);
    await new Promise((r) => setTimeout(r, 1000));
    // The server's estimate of the publisher's media time 0 is close to its publish.
    expect(user.timelineOrigin).toBeDefined();
    expect(Math.abs(user.timelineOrigin! - user.publishedAt)).toBeLessThan(500);
    const stopping = Date.now();
    const leftAt = await user.stop();
    expect(leftAt - stopping).toBeLessThan(1000);
    expect(server.isPublishing(user.streamPath)).toBe(false);
  });

  it('does not report a second publisher of a live path, which is shut out', async () => {
    const first = await ChannelUserPublisher.start({ server, appId: APP, channel: 'dup', uid: 2, ...SMALL });
    const seen = events.length;
    const second = TestPublisher.start({ url: server.userRtmpUrl(APP, 'dup', 2), ...SMALL });
    expect(await second.waitExit()).not.toBe(0);
    const later = events.slice(seen).filter((e) => e.streamPath === first.streamPath);
    expect(later.map((e) => e.event)).not.toContain('postPublish');
    expect(later.map((e) => e.event)).not.toContain('donePublish');
    expect(server.isPublishing(first.streamPath)).toBe(true);
    expect(first.running).toBe(true);
    await first.stop();
  });

  it('keeps single-stream use: one URL to publish to and to play, signed for the channel', async () => {
    const url = server.rtmpUrl(APP, 'single one');
    expect(url).toMatch(/^rtmp:\/\/127\.0\.0\.1:\d+\/app1\/single_20one\?sign=\d+-[0-9a-f]{32}$/);
    const publisher = TestPublisher.start({ url, ...SMALL });
    try {
      await server.waitForPublish(APP, 'single one');
      expect(await probe(url)).toEqual(['audio', 'video,320,180']);
      await expect(probe(url.replace(/\?.*$/, ''))).rejects.toThrow();
    } finally {
      await publisher.stop();
    }
    // Gone at once, not 30 s later: waiting for a publisher waits again.
    await new Promise((r) => setTimeout(r, 300));
    await expect(server.waitForPublish(APP, 'single one', 500)).rejects.toThrow();
  });

  it('publishes audio only, video only, other patterns and sync marks', async () => {
    const users = await Promise.all([
      ChannelUserPublisher.start({ server, appId: APP, channel: 'kinds', uid: 1, ...SMALL, video: false }),
      ChannelUserPublisher.start({ server, appId: APP, channel: 'kinds', uid: 2, ...SMALL, audio: false }),
      ChannelUserPublisher.start({
        server,
        appId: APP,
        channel: 'kinds',
        uid: 3,
        ...SMALL,
        pattern: 'smptebars',
        toneHz: 660,
        syncMarks: true,
      }),
    ]);
    try {
      const token = server.channelToken(APP, 'kinds');
      const [audioOnly, videoOnly, marked] = await Promise.all(
        [1, 2, 3].map((uid) => probe(`${server.userRtmpUrl(APP, 'kinds', uid)}?sign=${token}`)),
      );
      expect(audioOnly).toEqual(['audio']);
      expect(videoOnly).toEqual(['video,320,180']);
      expect(marked).toEqual(['audio', 'video,320,180']);
      expect(users.every((u) => u.running)).toBe(true);
    } finally {
      await Promise.all(users.map((u) => u.stop()));
    }
  });

  it('serves its HTTP API only to a bearer of a JWT signed with its API secret', async () => {
    const res = await fetch(`${server.apiUrl}/api/v1/streams`);
    expect(res.status).toBe(401);
    await res.body?.cancel();
  });
});
