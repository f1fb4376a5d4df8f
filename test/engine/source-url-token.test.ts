/**
 * A source URL may carry a token in its query (a channel's `?sign=…`, as a channel directory hands the
 * engine): it must reach the channel server — the recording works — and appear in nothing the engine
 * emits: no event (the joined event shows the URL redacted) and no error message, also when the source
 * cannot be reached.
 */
import { redactUrl } from '@recfleet/contract';
import { ChannelServer, TestPublisher, freePort } from '@recfleet/embedded';
import { NATIVE_EVENTS, type Recorder } from '@recfleet/engine-binding';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once, record, workspace, type Workspace } from './support.js';

const TOKEN = '1767225600-5f4dcc3b5aa765d61d8327deb882cf99';

let ws: Workspace;
let server: ChannelServer;

beforeAll(async () => {
  ws = await workspace('token');
  server = await ChannelServer.start();
});
afterAll(async () => {
  await server?.stop();
  await ws?.remove();
});

/** Every event the recorder emits, as JSON. */
function everyEvent(recorder: Recorder): string[] {
  const seen: string[] = [];
  for (const name of NATIVE_EVENTS) recorder.on(name, (e: unknown) => seen.push(JSON.stringify(e)));
  return seen;
}

describe('a source URL with a token', () => {
  it('records through it and never shows the token', async () => {
    const url = `${server.rtmpUrl('token', 'room 1')}?sign=${TOKEN}`;
    const publisher = TestPublisher.start({
      url: server.rtmpUrl('token', 'room 1'),
      width: 320,
      height: 180,
      frameRate: 15,
      gop: 15,
    });
    try {
      await server.waitForPublish('token', 'room 1');
      const log = record({
        recordingId: 'with-token',
        sourceUrl: url,
        outputDir: await ws.sub('live'),
        segmentSeconds: 1,
      });
      const seen = everyEvent(log.recorder);
      const joined = once<{ sourceUrl: string }>(log.recorder, 'joined');
      await once(log.recorder, 'segment');
      const final = await log.recorder.stop();
      await log.recorder.release();

      expect(final).toMatchObject({ type: 'stopped', reason: 'requested' });
      expect((await joined).sourceUrl).toBe(redactUrl(url));
      expect((await joined).sourceUrl).toMatch(/\?\[redacted\]$/);
      expect(seen.length).toBeGreaterThanOrEqual(4);
      for (const e of seen) expect(e).not.toContain(TOKEN.split('-')[1]);
    } finally {
      await publisher.stop();
    }
  }, 30_000);

  it('keeps it out of the failures of a source that cannot be reached', async () => {
    const url = `rtmp://127.0.0.1:${await freePort()}/token/room?sign=${TOKEN}`;
    const log = record({
      recordingId: 'unreachable-token',
      sourceUrl: url,
      outputDir: await ws.sub('unreachable'),
      maxIdleSeconds: 1,
      connectTimeoutSeconds: 1,
    });
    const seen = everyEvent(log.recorder);
    const final = await log.final;
    await log.recorder.release();

    expect(final).toMatchObject({ type: 'stopped', reason: 'idle_timeout' });
    expect(log.failures.map((f) => f.code)).toContain('SOURCE_UNREACHABLE');
    expect(seen.length).toBeGreaterThanOrEqual(2);
    for (const e of seen) expect(e).not.toContain(TOKEN.split('-')[1]);
  }, 30_000);
});
