/**
 * udp:// and rtp:// read by the engine itself (native/udp_ts_input.cc: batches of datagrams on the
 * recording's own thread, instead of libavformat's thread and wake-up, or poll and receive, per datagram),
 * with real ffmpeg senders: the recording is clean and continuous; a sender that goes quiet is given up
 * after the read timeout (SOURCE_LOST) and rejoined when it is back; stop() and release() return within
 * 500 ms while nothing arrives. libavformat's readers (`udpReadBufferBytes: 0`) record the same senders,
 * and an rtp:// stream of another payload than MPEG-TS is handed to libavformat at its first packet.
 */
import { ManagedProcess, TestPublisher } from '@recfleet/embedded';
import type { RecorderOptions } from '@recfleet/engine-binding';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freeUdpPort } from '../../packages/engine-binding/src/test-support.js';
import {
  expectCleanRecording,
  once,
  record,
  sleep,
  workspace,
  type RecordingLog,
  type Workspace,
} from './support.js';

let ws: Workspace;
const publishers: (TestPublisher | ManagedProcess)[] = [];
const recordings: RecordingLog[] = [];

beforeAll(async () => {
  ws = await workspace('udp-reader');
});
afterEach(async () => {
  await Promise.all(recordings.splice(0).map((r) => r.recorder.release({ cancel: true })));
  await Promise.all(publishers.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await ws?.remove();
});

function send(port: number): TestPublisher {
  const p = TestPublisher.start({
    url: `udp://127.0.0.1:${port}?pkt_size=1316`,
    format: 'mpegts',
    width: 320,
    height: 180,
    frameRate: 25,
    gop: 25,
  });
  publishers.push(p);
  return p;
}

async function recordPort(
  port: number,
  id: string,
  extra: Record<string, number> = {},
  options: RecorderOptions = {},
) {
  const log = record(
    {
      recordingId: id,
      sourceUrl: `udp://@:${port}`,
      outputDir: await ws.sub(id),
      segmentSeconds: 1,
      connectTimeoutSeconds: 5,
      maxIdleSeconds: 15,
      ...extra,
    },
    options,
  );
  recordings.push(log);
  return log;
}

describe('recording udp://', () => {
  it.each([
    { reader: 'the engine’s reader', options: {} },
    { reader: 'libavformat’s reader', options: { udpReadBufferBytes: 0 } },
  ])('records a live sender cleanly through $reader', async ({ options }) => {
    const port = await freeUdpPort();
    const log = await recordPort(port, `live-${options.udpReadBufferBytes ?? 'ours'}`, {}, options);
    send(port);
    await once(log.recorder, 'started');
    await sleep(3500);
    const final = await log.recorder.stop();
    expect(final).toMatchObject({ type: 'stopped', reason: 'requested' });
    expect(log.failures).toEqual([]);
    expect(log.segments.length).toBeGreaterThanOrEqual(3);
    await expectCleanRecording(log);
  });

  it('gives a quiet sender up after the read timeout (SOURCE_LOST) and rejoins it when it is back', async () => {
    const port = await freeUdpPort();
    const log = await recordPort(port, 'quiet', { readTimeoutSeconds: 1 });
    const first = send(port);
    await once(log.recorder, 'started');
    await sleep(2000);
    const lost = new Promise<number>((resolve) =>
      log.recorder.on('recorder_failure', (e) => e.code === 'SOURCE_LOST' && resolve(performance.now())),
    );
    const quietAt = performance.now();
    await first.stop();
    const noticed = (await lost) - quietAt;
    expect(noticed).toBeGreaterThanOrEqual(1000 - 300);
    expect(noticed).toBeLessThan(2500);
    const rejoined = new Promise<void>((resolve) => log.recorder.on('joined', (e) => e.rejoin && resolve()));
    send(port);
    await rejoined;
    await sleep(2500);
    await log.recorder.stop();
    expect(log.segments.filter((s) => s.discontinuity)).toHaveLength(1);
    await expectCleanRecording(log);
  });

  it.each(['stop', 'release'] as const)('%s() returns within 500 ms while nothing arrives', async (call) => {
    const port = await freeUdpPort();
    const log = await recordPort(port, `blocked-${call}`, { readTimeoutSeconds: 30, maxIdleSeconds: 60 });
    const sender = send(port);
    await once(log.recorder, 'started');
    await sleep(1500);
    await sender.stop();
    await sleep(1000);
    const began = performance.now();
    if (call === 'stop') await log.recorder.stop();
    else await log.recorder.release();
    expect(performance.now() - began).toBeLessThan(500);
    expect(await log.final).toMatchObject({ type: 'stopped', reason: 'requested' });
  });
});

/** An ffmpeg test card and tone sent as RTP: MPEG-TS in RTP (`rtp_mpegts`), or MPEG audio alone (`rtp`). */
function sendRtp(port: number, payload: 'mpegts' | 'mpeg-audio'): ManagedProcess {
  const args =
    payload === 'mpegts'
      ? [
          ...['-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25', '-f', 'lavfi', '-i', 'sine'],
          ...['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-c:a', 'aac', '-f', 'rtp_mpegts'],
        ]
      : ['-f', 'lavfi', '-i', 'sine', '-c:a', 'mp2', '-f', 'rtp'];
  const p = new ManagedProcess('rtp sender', 'ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-nostdin', '-re'],
    ...args,
    `rtp://127.0.0.1:${port}`,
  ]);
  publishers.push(p);
  return p;
}

/** An even free port: RTP's, with RTCP on the next one. */
async function freeRtpPort(): Promise<number> {
  for (;;) {
    const port = await freeUdpPort();
    if (port % 2 === 0 && port < 65534) return port;
  }
}

describe('recording rtp://', () => {
  it.each([
    { reader: 'the engine’s reader', options: {} },
    { reader: 'libavformat’s reader', options: { udpReadBufferBytes: 0 } },
  ])('records MPEG-TS in RTP cleanly through $reader', async ({ options }) => {
    const port = await freeRtpPort();
    const log = record(
      {
        recordingId: `rtp-${options.udpReadBufferBytes ?? 'ours'}`,
        sourceUrl: `rtp://127.0.0.1:${port}`,
        outputDir: await ws.sub(`rtp-${options.udpReadBufferBytes ?? 'ours'}`),
        segmentSeconds: 1,
        connectTimeoutSeconds: 5,
        maxIdleSeconds: 15,
      },
      options,
    );
    recordings.push(log);
    sendRtp(port, 'mpegts');
    await once(log.recorder, 'started');
    await sleep(3500);
    expect(await log.recorder.stop()).toMatchObject({ type: 'stopped', reason: 'requested' });
    expect(log.failures).toEqual([]);
    expect(log.segments.length).toBeGreaterThanOrEqual(3);
    await expectCleanRecording(log);
  });

  it('hands a stream of another payload type (MPEG audio) to libavformat, which records it', async () => {
    const port = await freeRtpPort();
    const log = record({
      recordingId: 'rtp-mpa',
      sourceUrl: `rtp://127.0.0.1:${port}`,
      outputDir: await ws.sub('rtp-mpa'),
      streamTypes: 'audio',
      segmentSeconds: 1,
      connectTimeoutSeconds: 5,
      maxIdleSeconds: 15,
    });
    recordings.push(log);
    sendRtp(port, 'mpeg-audio');
    const started = await once<{ streams: { kind: string; codec: string }[] }>(log.recorder, 'started');
    await sleep(2500);
    expect(await log.recorder.stop()).toMatchObject({ type: 'stopped', reason: 'requested' });
    expect(started.streams).toEqual([expect.objectContaining({ kind: 'audio', codec: 'mp2' })]);
    expect(log.segments.length).toBeGreaterThanOrEqual(2);
  });
});
