/**
 * The engine's own RTMP client (native/rtmp_play_session.cc), against servers that do what servers in
 * the field do and the embedded channel server does not: other chunk sizes and a Set Chunk Size
 * mid-stream, a Window Acknowledgement Size to answer, ping requests, aggregate messages, an error
 * status for a play; and against node-media-server itself for the refusal the channel directory relies
 * on (it closes the connection right after the play). Also: a stalled connection is given up after the
 * read timeout, and stop() and release() end a blocked read within 500 ms.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { ChannelServer, TestPublisher } from '@recfleet/embedded';
import { nativeReaders } from '@recfleet/engine-binding';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ScriptedRtmpServer, type ScriptedRtmpOptions } from './scripted-rtmp-server.js';
import {
  expectCleanRecording,
  ffmpeg,
  runTool,
  once,
  record,
  sleep,
  workspace,
  type RecordingLog,
  type Workspace,
} from './support.js';
import type { RecorderOptions } from '@recfleet/engine-binding';

let ws: Workspace;
let flv: string;
const servers: ScriptedRtmpServer[] = [];
const recordings: RecordingLog[] = [];

beforeAll(async () => {
  ws = await workspace('rtmp-reader');
  flv = join(ws.path, 'source.flv');
  ffmpeg([
    ...['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-f', 'lavfi', '-i', 'sine'],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-c:a', 'aac', '-t', '6', '-f', 'flv', flv],
  ]);
});
afterEach(async () => {
  await Promise.all(recordings.splice(0).map((r) => r.recorder.release({ cancel: true })));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await ws?.remove();
});

async function serve(options: Omit<ScriptedRtmpOptions, 'flv'>): Promise<ScriptedRtmpServer> {
  const server = await ScriptedRtmpServer.start({ flv, ...options });
  servers.push(server);
  return server;
}

async function recordFrom(
  url: string,
  id: string,
  extra: Record<string, number> = {},
  recorderOptions: RecorderOptions = {},
): Promise<RecordingLog> {
  const log = record(
    {
      recordingId: id,
      sourceUrl: url,
      outputDir: await ws.sub(id),
      segmentSeconds: 1,
      connectTimeoutSeconds: 2,
      maxIdleSeconds: 10,
      ...extra,
    },
    recorderOptions,
  );
  recordings.push(log);
  return log;
}

/** Records ~3 s and checks that what came out is clean and continuous. */
async function recordsCleanly(log: RecordingLog): Promise<void> {
  await once(log.recorder, 'started');
  await sleep(3000);
  const final = await log.recorder.stop();
  expect(final).toMatchObject({ type: 'stopped', reason: 'requested' });
  expect(log.failures).toEqual([]);
  expect(log.segments.length).toBeGreaterThanOrEqual(2);
  await expectCleanRecording(log);
}

describe("the engine's RTMP client", () => {
  it.each([
    { label: 'chunks of 77 bytes', chunkSize: 77 },
    {
      label: 'chunks of 1000 bytes, then 60000',
      chunkSize: 1000,
      rechunk: { afterMs: 1500, chunkSize: 60_000 },
    },
    { label: 'aggregate messages in chunks of 4096', chunkSize: 4096, aggregate: 3 },
  ])('records a server that sends $label', async ({ chunkSize, rechunk, aggregate }) => {
    const server = await serve({
      chunkSize,
      ...(rechunk ? { rechunk } : {}),
      ...(aggregate ? { aggregate } : {}),
    });
    await recordsCleanly(await recordFrom(server.url('live/cam'), `chunks-${chunkSize}`));
  });

  it('acknowledges every window it is asked to and answers ping requests', async () => {
    const window = 64 * 1024;
    const server = await serve({ chunkSize: 4096, windowAckSize: window, pingIntervalMs: 300 });
    await recordsCleanly(await recordFrom(server.url('live/cam'), 'acks'));
    const [client] = server.clients;
    expect(client!.acks.length).toBeGreaterThanOrEqual(3);
    // Each acknowledgement counts the bytes received, one window or more after the last.
    client!.acks.forEach((a, i) => {
      expect(a).toBeLessThanOrEqual(client!.sent);
      expect(a - (client!.acks[i - 1] ?? 0)).toBeGreaterThanOrEqual(window);
    });
    expect(client!.pongs.length).toBeGreaterThanOrEqual(5);
    // A pong echoes its ping's timestamp: they increase, one interval or so apart.
    client!.pongs.slice(1).forEach((t, i) => expect(t).toBeGreaterThan(client!.pongs[i]!));
  });

  it('connects to the URL’s app and plays its stream name with the query (the token travels in it)', async () => {
    const server = await serve({ chunkSize: 4096 });
    const log = await recordFrom(`${server.url('app/inst/room')}?sign=1767225600-abc`, 'names');
    await once(log.recorder, 'started');
    await log.recorder.stop();
    const [client] = server.clients;
    expect(client!.connect).toMatchObject({
      app: 'app/inst',
      tcUrl: `rtmp://127.0.0.1:${server.port}/app/inst`,
      flashVer: 'LNX 9,0,124,2',
    });
    expect(client!.play).toBe('room?sign=1767225600-abc');
  });

  it.each([
    { path: 'live/room.flv', app: 'live', play: 'room' },
    { path: 'vod/talk.mp4', app: 'vod', play: 'mp4:talk.mp4' },
    { path: 'vod/mp4:dir/talk.mp4', app: 'vod', play: 'mp4:dir/talk.mp4' },
    { path: 'live/room?sign=1-a/b', app: 'live/room?sign=1-a', play: 'b' },
  ])('splits $path into app and stream name as libavformat’s client does', async ({ path, app, play }) => {
    const server = await serve({ chunkSize: 4096 });
    for (const options of [{}, { rtmpReadBufferBytes: 0 }]) {
      const log = await recordFrom(server.url(path), `split-${server.clients.length}`, {}, options);
      await once(log.recorder, 'joined');
      await log.recorder.release({ cancel: true });
    }
    const [ours, theirs] = server.clients;
    expect(ours!.connect).toMatchObject({ app, tcUrl: `rtmp://127.0.0.1:${server.port}/${app}` });
    expect(ours!.play).toBe(play);
    expect({ connect: theirs!.connect, play: theirs!.play }).toMatchObject({
      connect: { app: ours!.connect!.app, tcUrl: ours!.connect!.tcUrl },
      play: ours!.play,
    });
  });

  it('fails an open fast with SOURCE_UNREACHABLE when the play is answered with an error status', async () => {
    const server = await serve({ answer: 'error' });
    const began = performance.now();
    const log = await recordFrom(server.url('live/missing'), 'play-error', { maxIdleSeconds: 1 });
    const failure = await new Promise<{ code: string; message: string }>((resolve) =>
      log.recorder.once('recorder_failure', resolve),
    );
    expect(performance.now() - began).toBeLessThan(1000);
    expect(failure.code).toBe('SOURCE_UNREACHABLE');
    expect(failure.message).toContain('NetStream.Play.StreamNotFound');
    expect(await log.final).toMatchObject({ type: 'stopped', reason: 'idle_timeout' });
  });

  it('gives a stalled connection up after the read timeout, with SOURCE_LOST', async () => {
    const server = await serve({ chunkSize: 4096, stallAfterMs: 2000 });
    const log = await recordFrom(server.url('live/cam'), 'stall', { readTimeoutSeconds: 1 });
    await once(log.recorder, 'started');
    const lost = new Promise<number>((resolve) =>
      log.recorder.on('recorder_failure', (e) => e.code === 'SOURCE_LOST' && resolve(performance.now())),
    );
    // The stall begins 2 s after the play; the last bytes are read within a poll interval of it.
    const stalledAt = performance.now() + 2000 - 300;
    const noticed = (await lost) - stalledAt;
    expect(noticed).toBeGreaterThanOrEqual(1000 - 300);
    expect(noticed).toBeLessThan(2500);
    await log.recorder.stop();
  });

  it.each(['stop', 'release'] as const)(
    '%s() ends a read blocked on a stalled connection within 500 ms',
    async (call) => {
      const server = await serve({ chunkSize: 4096, stallAfterMs: 1500 });
      const log = await recordFrom(server.url('live/cam'), `blocked-${call}`, {
        readTimeoutSeconds: 30,
        maxIdleSeconds: 60,
      });
      await once(log.recorder, 'started');
      await sleep(2500);
      const began = performance.now();
      if (call === 'stop') await log.recorder.stop();
      else await log.recorder.release();
      expect(performance.now() - began).toBeLessThan(500);
      expect(await log.final).toMatchObject({ type: 'stopped', reason: 'requested' });
      expect(log.failures).toEqual([]);
    },
  );
});

describe('a play node-media-server refuses (it closes the connection right after the play)', () => {
  let channels: ChannelServer;
  let publisher: TestPublisher;
  beforeAll(async () => {
    channels = await ChannelServer.start({ playAuth: true });
    publisher = TestPublisher.start({ url: channels.rtmpUrl('refuse', 'room'), width: 320, height: 180 });
    await channels.waitForPublish('refuse', 'room');
  });
  afterAll(async () => {
    await publisher?.stop();
    await channels?.stop();
  });

  it('fails each open fast with SOURCE_UNREACHABLE, and ends with idle_timeout', async () => {
    // The channel's play URL without its token: the server verifies the play and closes.
    const url = channels.rtmpUrl('refuse', 'room').replace(/\?.*$/, '');
    const began = performance.now();
    const log = await recordFrom(url, 'refused', { maxIdleSeconds: 2 });
    const failure = await new Promise<{ code: string }>((resolve) =>
      log.recorder.once('recorder_failure', resolve),
    );
    expect(performance.now() - began).toBeLessThan(1000);
    expect(failure.code).toBe('SOURCE_UNREACHABLE');
    const final = await log.final;
    expect(final).toMatchObject({ type: 'stopped', reason: 'idle_timeout', segments: 0 });
    expect(log.order).not.toContain('joined');
  });
});

describe('rtmps://', () => {
  let tls: TlsServer;
  let target: ScriptedRtmpServer;
  beforeAll(async () => {
    const key = join(ws.path, 'key.pem');
    const cert = join(ws.path, 'cert.pem');
    const made = runTool('openssl', [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1'],
      ...['-keyout', key, '-out', cert],
    ]);
    if (made.status !== 0) throw new Error(`openssl could not make a certificate: ${made.stderr}`);
    target = await ScriptedRtmpServer.start({ flv, chunkSize: 4096 });
    // A TLS terminator in front of the RTMP server, as RTMPS is usually served (nginx stream, a load
    // balancer): it does not care how the client reads.
    tls = createTlsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (client) => {
      const upstream = connect(target.port, '127.0.0.1');
      client.pipe(upstream).pipe(client);
      const drop = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => (tls ? tls.close(() => resolve()) : resolve()));
    await target?.close();
  });

  it.each([
    { reader: 'the engine’s client', options: {}, ours: true },
    { reader: 'libavformat’s client', options: { rtmpReadBufferBytes: 0 }, ours: false },
  ])('records through $reader, the token travelling in the stream name', async ({ options, ours }) => {
    const port = (tls.address() as { port: number }).port;
    const before = target.clients.length;
    await recordsCleanly(
      await recordFrom(
        `rtmps://127.0.0.1:${port}/live/room?sign=1767225600-abc`,
        `rtmps-${before}`,
        {},
        options,
      ),
    );
    const client = target.clients[before]!;
    expect(client.play).toBe('room?sign=1767225600-abc');
    // Told apart by what they ask: libavformat's client also asks the stream's length.
    expect(client.commands.includes('getStreamLength')).toBe(!(ours && nativeReaders().rtmps));
  });

  it('is read by the engine’s own client in this build (GnuTLS was found at build time)', () => {
    expect(nativeReaders().rtmps).toBe(true);
  });
});
