import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { channelToken } from '@recfleet/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelServer } from './channel-server.js';
import { userStreamSign } from './channel-token-auth.js';
import { ChannelUserPublisher } from './channel-user-publisher.js';

const run = promisify(execFile);
const APP = 'app1';
const CHANNEL = 'room 1';
const SMALL = { width: 320, height: 180, frameRate: 15 } as const;

const inAMinute = (): Date => new Date(Date.now() + 60_000);
const aMinuteAgo = (): Date => new Date(Date.now() - 60_000);

describe('userStreamSign', () => {
  const secret = 's3cret';
  const path = '/app1/room_201_u42';

  it("signs a user's stream for a valid token of the user's channel, with the token's expiry", () => {
    const expiresAt = inAMinute();
    const sign = userStreamSign(path, channelToken(APP, CHANNEL, secret, expiresAt), secret);
    expect(sign).toMatch(/^\d+-[0-9a-f]{32}$/);
    expect(sign!.split('-')[0]).toBe(String(Math.floor(expiresAt.getTime() / 1000)));
  });

  it('signs nothing for an expired token, another channel, another secret or another app', () => {
    expect(userStreamSign(path, channelToken(APP, CHANNEL, secret, aMinuteAgo()), secret)).toBeUndefined();
    expect(userStreamSign(path, channelToken(APP, 'room 2', secret, inAMinute()), secret)).toBeUndefined();
    expect(userStreamSign(path, channelToken(APP, CHANNEL, 'other', inAMinute()), secret)).toBeUndefined();
    expect(userStreamSign(path, channelToken('app2', CHANNEL, secret, inAMinute()), secret)).toBeUndefined();
    expect(userStreamSign(path, 'not-a-token', secret)).toBeUndefined();
  });

  it("signs nothing for a path that is not a user's stream, or not its canonical spelling", () => {
    const token = channelToken(APP, 'roomA', secret, inAMinute());
    expect(userStreamSign('/app1/roomA', token, secret)).toBeUndefined();
    expect(userStreamSign('/app1/roomA_u1', token, secret)).toBeDefined();
    // `_41` decodes to `A`, but is another stream than roomA_u1.
    expect(userStreamSign('/app1/room_41_u1', token, secret)).toBeUndefined();
    expect(userStreamSign('/app1/roomA_u1/x', token, secret)).toBeUndefined();
  });
});

describe('the channel token on node-media-server (embedded channel server)', () => {
  let server: ChannelServer;
  let user: ChannelUserPublisher;

  beforeAll(async () => {
    server = await ChannelServer.start();
    user = await ChannelUserPublisher.start({ server, appId: APP, channel: CHANNEL, uid: 42, ...SMALL });
  });
  afterAll(async () => {
    await user?.stop().catch(() => undefined);
    await server?.stop();
  });

  /** An HTTP-FLV play: admitted (a streamed answer) or refused (an empty one), dropped either way. */
  async function admits(path: string, sign: string | undefined): Promise<boolean> {
    const abort = new AbortController();
    const query = sign === undefined ? '' : `?sign=${sign}`;
    const res = await fetch(`${server.apiUrl}${path}.flv${query}`, { signal: abort.signal });
    abort.abort();
    return res.headers.get('content-length') !== '0';
  }

  it("admits a valid channel token to every user's stream of the channel and to the channel's own path", async () => {
    const token = server.channelToken(APP, CHANNEL, 60);
    expect(await admits('/app1/room_201_u42', token)).toBe(true);
    expect(await admits('/app1/room_201_u7', token)).toBe(true); // nobody publishes it: a waiting play
    expect(await admits('/app1/room_201', token)).toBe(true);
  });

  it('refuses an expired token, another channel’s, one of another secret, and none', async () => {
    const expired = channelToken(APP, CHANNEL, server.secret, aMinuteAgo());
    const otherChannel = server.channelToken(APP, 'room 2', 60);
    const otherSecret = channelToken(APP, CHANNEL, 'not the secret', inAMinute());
    for (const path of ['/app1/room_201_u42', '/app1/room_201']) {
      expect(await admits(path, expired)).toBe(false);
      expect(await admits(path, otherChannel)).toBe(false);
      expect(await admits(path, otherSecret)).toBe(false);
      expect(await admits(path, undefined)).toBe(false);
    }
  });

  it('lets an RTMP player in with the token, and shuts one out without it within a second', async () => {
    const url = `${server.rtmpBaseUrl}/app1/room_201_u42`;
    const token = server.channelToken(APP, CHANNEL, 60);
    const probe = (u: string) =>
      run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type', '-of', 'csv=p=0', u], {
        timeout: 15_000,
      });
    const { stdout } = await probe(`${url}?sign=${token}`);
    expect(stdout.trim().split('\n').sort()).toEqual(['audio', 'video']);
    const started = Date.now();
    await expect(
      probe(`${url}?sign=${channelToken(APP, 'room 2', server.secret, inAMinute())}`),
    ).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
