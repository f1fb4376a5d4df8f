import { channelToken, RecfleetError, type RecfleetErrorCode } from '@recfleet/contract';
import { ChannelServer, freePort } from '@recfleet/embedded';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelMembership } from './channel-directory.js';
import { NodeMediaServerDirectory } from './node-media-server-directory.js';

const APP = 'app1';
const CHANNEL = 'room 1';
const RECORDER_UID = 999;

let server: ChannelServer;
beforeAll(async () => {
  server = await ChannelServer.start();
});
afterAll(async () => {
  await server?.stop();
});

function directoryOf(s: ChannelServer, options: { apiSecret?: string; unreachableTimeoutMs?: number } = {}) {
  return new NodeMediaServerDirectory({
    rtmpUrl: s.rtmpBaseUrl,
    apiUrl: s.apiUrl,
    apiSecret: options.apiSecret ?? s.apiSecret,
    ...(options.unreachableTimeoutMs === undefined
      ? {}
      : { unreachableTimeoutMs: options.unreachableTimeoutMs }),
  });
}

/** The code join() rejects with, how long it took, and its message (which must not hold the token). */
async function refusal(
  dir: NodeMediaServerDirectory,
  token: string | undefined,
  channel = CHANNEL,
): Promise<{ code: RecfleetErrorCode; ms: number; message: string }> {
  const started = Date.now();
  let membership: ChannelMembership | undefined;
  try {
    membership = await dir.join({ appId: APP, channel, recorderUid: RECORDER_UID, token });
  } catch (err) {
    expect(err).toBeInstanceOf(RecfleetError);
    const { code, message } = err as RecfleetError;
    if (token) expect(message).not.toContain(token.split('-')[1]);
    return { code, ms: Date.now() - started, message };
  }
  await membership.close();
  throw new Error('join() was admitted');
}

describe('NodeMediaServerDirectory.join: admission', () => {
  it('admits a valid channel token', async () => {
    const membership = await directoryOf(server).join({
      appId: APP,
      channel: CHANNEL,
      recorderUid: RECORDER_UID,
      token: server.channelToken(APP, CHANNEL, 60),
    });
    expect(membership.users()).toEqual([]);
    await membership.close();
  });

  it.each([
    ['of another secret', () => channelToken(APP, CHANNEL, 'not the secret', new Date(Date.now() + 60_000))],
    ['of another channel', () => server.channelToken(APP, 'room 2', 60)],
    ['of another app', () => server.channelToken('app2', CHANNEL, 60)],
    ['expired', () => channelToken(APP, CHANNEL, server.secret, new Date(Date.now() - 5000))],
    ['malformed', () => 'abc'],
    ['missing', () => undefined],
  ])('refuses a token %s with CHANNEL_AUTH_FAILED within 2 s', async (_, token) => {
    const { code, ms } = await refusal(directoryOf(server), token());
    expect(code).toBe('CHANNEL_AUTH_FAILED');
    expect(ms).toBeLessThan(2000);
  });

  it("gives no user's URL once the token has expired since the join (the server would refuse the play)", async () => {
    const expiresAt = new Date(Date.now() + 1000);
    const token = channelToken(APP, CHANNEL, server.secret, expiresAt);
    const membership = await directoryOf(server).join({
      appId: APP,
      channel: CHANNEL,
      recorderUid: RECORDER_UID,
      token,
    });
    try {
      expect(membership.sourceUrl(3)).toContain(`?sign=${token}`);
      // node-media-server takes a token through the second it names.
      await new Promise((r) =>
        setTimeout(r, Math.floor(expiresAt.getTime() / 1000) * 1000 + 1000 - Date.now() + 50),
      );
      let error: unknown;
      try {
        membership.sourceUrl(3);
      } catch (err) {
        error = err;
      }
      expect(error).toMatchObject({ code: 'CHANNEL_AUTH_FAILED' });
      expect((error as Error).message).not.toContain(token.split('-')[1]);
    } finally {
      await membership.close();
    }
  });

  it("refuses the token of a channel server that lacks the channel token hook (it would not open users' streams)", async () => {
    const plain = await ChannelServer.start({ channelTokenAuth: false });
    try {
      const { code, ms, message } = await refusal(directoryOf(plain), plain.channelToken(APP, CHANNEL, 60));
      expect(code).toBe('CHANNEL_AUTH_FAILED');
      expect(message).toContain('installChannelTokenAuth');
      expect(ms).toBeLessThan(2000);
    } finally {
      await plain.stop();
    }
  });

  it('joins an open channel server without a token', async () => {
    const openServer = await ChannelServer.start({ playAuth: false });
    try {
      const membership = await directoryOf(openServer).join({
        appId: APP,
        channel: CHANNEL,
        recorderUid: RECORDER_UID,
        token: undefined,
      });
      expect(membership.sourceUrl(3)).toBe(`${openServer.rtmpBaseUrl}/app1/room_201_u3`);
      await membership.close();
    } finally {
      await openServer.stop();
    }
  });

  it("fails with CONFIG_INVALID when the API refuses the directory's secret", async () => {
    const { code, ms } = await refusal(
      directoryOf(server, { apiSecret: 'not the API secret' }),
      server.channelToken(APP, CHANNEL, 60),
    );
    expect(code).toBe('CONFIG_INVALID');
    expect(ms).toBeLessThan(2000);
  });

  it('fails with SOURCE_UNREACHABLE once the server has not answered for unreachableTimeoutMs', async () => {
    const nobody = await freePort();
    const dir = new NodeMediaServerDirectory({
      rtmpUrl: `rtmp://127.0.0.1:${nobody}`,
      apiUrl: `http://127.0.0.1:${nobody}`,
      apiSecret: 'x',
      unreachableTimeoutMs: 1500,
    });
    const { code, ms } = await refusal(dir, server.channelToken(APP, CHANNEL, 60));
    expect(code).toBe('SOURCE_UNREACHABLE');
    expect(ms).toBeGreaterThanOrEqual(1500);
    expect(ms).toBeLessThan(2500);
  });

  it('joins a server that comes up while join() is still trying', async () => {
    const [port, httpPort] = [await freePort(), await freePort()];
    const secret = 'late secret';
    const apiSecret = 'late API secret';
    const dir = new NodeMediaServerDirectory({
      rtmpUrl: `rtmp://127.0.0.1:${port}`,
      apiUrl: `http://127.0.0.1:${httpPort}`,
      apiSecret,
      unreachableTimeoutMs: 10_000,
    });
    const joining = dir.join({
      appId: APP,
      channel: CHANNEL,
      recorderUid: RECORDER_UID,
      token: channelToken(APP, CHANNEL, secret, new Date(Date.now() + 60_000)),
    });
    await new Promise((r) => setTimeout(r, 1000));
    const late = await ChannelServer.start({ port, httpPort, secret, apiSecret });
    try {
      const membership = await joining;
      expect(membership.users()).toEqual([]);
      await membership.close();
    } finally {
      await late.stop();
    }
  });
});
