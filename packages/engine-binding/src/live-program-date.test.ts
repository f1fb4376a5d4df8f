// Program dates of a live source whose first packets come late: the case of a user joining a channel on
// a busy host, where the few live packets of the first second can all be delayed together.
import { createSocket, type Socket } from 'node:dgram';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import type { SegmentEvent } from './recorder.js';
import { freeUdpPort, record, sleep, startUdpPublisher, stopProcess, tempDir } from './test-support.js';

/** How late the relay makes the stream's first packets, and for how long. */
const LATE_MS = 250;
const LATE_FOR_MS = 1500;
/**
 * A date and the one its segment's media time gives from the latest segment's: the estimate the
 * latest one had is the best, so an early segment dated from the late packets alone is LATE_MS off.
 */
const AGREEMENT_MS = 40;

let dir: { path: string; remove(): Promise<void> };
beforeAll(async () => {
  dir = await tempDir('program-date');
});
afterAll(async () => {
  await dir?.remove();
});

/**
 * A UDP relay that holds the datagrams of the first LATE_FOR_MS for LATE_MS, in order (a later datagram
 * never overtakes an earlier one, as MPEG-TS over UDP must not be reordered), and then passes them on.
 */
function lateStartRelay(listenPort: number, targetPort: number): Promise<Socket> {
  const socket = createSocket('udp4');
  let first: number | undefined;
  let lastSend = 0;
  socket.on('message', (msg) => {
    const now = Date.now();
    first ??= now;
    const due = Math.max(lastSend, now + (now - first < LATE_FOR_MS ? LATE_MS : 0));
    lastSend = due;
    const send = (): void => socket.send(msg, targetPort, '127.0.0.1');
    if (due <= now) send();
    else setTimeout(send, due - now);
  });
  return new Promise((resolve) => socket.bind(listenPort, '127.0.0.1', () => resolve(socket)));
}

describe('program dates of a live source', () => {
  it('dates the first segments from packets that came on time, not from a late first burst', async () => {
    const [relayPort, recorderPort] = [await freeUdpPort(), await freeUdpPort()];
    const relay = await lateStartRelay(relayPort, recorderPort);
    const outputDir = join(dir.path, 'late-start');
    await mkdir(outputDir);
    const rec = record({
      recordingId: 'late-start',
      sourceUrl: `udp://@127.0.0.1:${recorderPort}`,
      outputDir,
      segmentSeconds: 1,
      maxIdleSeconds: 10,
    });
    let publisher: ChildProcess | undefined;
    try {
      await sleep(300); // the recorder's socket is bound
      publisher = startUdpPublisher(relayPort);
      const deadline = Date.now() + 30_000;
      while (rec.segments.length < 6 && Date.now() < deadline) await sleep(100);
      await rec.recorder.stop();
    } finally {
      if (publisher) await stopProcess(publisher);
      relay.close();
    }
    const segments: SegmentEvent[] = rec.segments;
    expect(segments.length).toBeGreaterThanOrEqual(6);
    const latest = segments.at(-1)!;
    const offsets = segments.map((s) =>
      Math.round(
        s.programDateTimeMs -
          (latest.programDateTimeMs + (s.startPtsSeconds - latest.startPtsSeconds) * 1000),
      ),
    );
    for (const [i, off] of offsets.entries()) {
      expect(
        Math.abs(off),
        `segment ${i} is ${off} ms from the latest segment's timeline (${offsets.join(', ')})`,
      ).toBeLessThanOrEqual(AGREEMENT_MS);
    }
  });
});
