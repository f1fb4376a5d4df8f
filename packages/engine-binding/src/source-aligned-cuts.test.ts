// Redundant recording: two recorders of one live RTMP source, joined at different moments (an owner and
// its standby on other hosts), must cut at the same source instants and say where, so that the standby
// can deliver from the first segment the owner did not. node-media-server sends every player the
// publisher's own FLV timestamps, so those are the clock both share.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ChannelServer, TestPublisher, type ChannelEvent } from '@recfleet/embedded';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SegmentEvent } from './recorder.js';
import { record, scaledTimeout, sleep, tempDir, type RecordingLog } from './test-support.js';

const APP = 'aligned';
/** The publisher's keyframe interval: 10 frames at 10 fps. */
const GOP_MS = 1000;

let server: ChannelServer;
let dir: { path: string; remove(): Promise<void> };
const publishers: TestPublisher[] = [];
const recordings: RecordingLog[] = [];

beforeAll(async () => {
  dir = await tempDir('aligned');
  server = await ChannelServer.start();
});
afterEach(async () => {
  await Promise.all(recordings.splice(0).map((r) => r.recorder.release({ cancel: true })));
  await Promise.all(publishers.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  await server?.stop();
  await dir?.remove();
});

async function until(what: string, predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + scaledTimeout(timeoutMs);
  while (!predicate()) {
    if (Date.now() > deadline)
      throw new Error(`${what} did not happen within ${scaledTimeout(timeoutMs)} ms`);
    await sleep(50);
  }
}

async function startRecorder(
  channel: string,
  name: string,
  options: { alignToSource: boolean; segmentSeconds: number },
): Promise<RecordingLog> {
  const outputDir = join(dir.path, channel, name);
  await mkdir(outputDir, { recursive: true });
  const log = record({
    recordingId: `${channel}-${name}`,
    sourceUrl: server.rtmpUrl(APP, channel),
    outputDir,
    maxIdleSeconds: 3,
    ...options,
  });
  recordings.push(log);
  return log;
}

/**
 * A publisher on `channel`, recorder A, and recorder B `delayMs` later, until B has reported `segments`
 * segments; then both stop. Also returns how far apart the server saw the two players join.
 */
async function recordTwice(
  channel: string,
  options: { alignToSource: boolean; segmentSeconds: number },
  delayMs: number,
  segments: number,
): Promise<{ a: SegmentEvent[]; b: SegmentEvent[]; joinGapMs: number }> {
  publishers.push(
    TestPublisher.start({
      url: server.rtmpUrl(APP, channel),
      width: 160,
      height: 90,
      frameRate: 10,
      gop: GOP_MS / 100,
    }),
  );
  await server.waitForPublish(APP, channel, scaledTimeout(15_000));
  const plays: ChannelEvent[] = [];
  const unsubscribe = server.onEvent((e) => {
    if (e.event === 'postPlay' && e.streamPath === `/${APP}/${channel}`) plays.push(e);
  });
  const a = await startRecorder(channel, 'a', options);
  // The point of the test: B joins the source later than A, at another place in its GOPs.
  await sleep(delayMs);
  const b = await startRecorder(channel, 'b', options);
  await until(`${segments} segments of B`, () => b.segments.length >= segments, 20_000);
  await Promise.all([a.recorder.stop(), b.recorder.stop()]);
  unsubscribe();
  expect(plays, 'the server saw both players').toHaveLength(2);
  return { a: a.segments, b: b.segments, joinGapMs: plays[1]!.at - plays[0]!.at };
}

/** Segments whose both ends are cuts while media flowed: all but each recording's first and last. */
function betweenCuts(segments: readonly SegmentEvent[]): SegmentEvent[] {
  return segments.slice(1, -1);
}

const span = (s: SegmentEvent): string => `${s.sourceStartMs}–${s.sourceEndMs}`;

/** Consecutive segments of one recording meet on the source's clock (no gap, no rejoin here). */
function expectChained(segments: readonly SegmentEvent[]): void {
  for (let i = 1; i < segments.length; i++) {
    const [prev, s] = [segments[i - 1]!, segments[i]!];
    expect(s.discontinuity, s.path).toBe(false);
    expect(s.sourceStartMs, `${s.path} after ${span(prev)}`).toBe(prev.sourceEndMs);
  }
  for (const s of segments) {
    expect(Number.isInteger(s.sourceStartMs) && Number.isInteger(s.sourceEndMs), s.path).toBe(true);
    expect(Math.abs(s.sourceEndMs - s.sourceStartMs - s.durationSeconds * 1000), s.path).toBeLessThan(2);
  }
}

describe('segment cuts on the source’s own clock', () => {
  it('alignToSource: two recorders that joined 1.7 s apart cut at the same source instants', async () => {
    const { a, b } = await recordTwice('same-cuts', { alignToSource: true, segmentSeconds: 2 }, 1700, 4);
    const spans = `A ${a.map(span).join(', ')}; B ${b.map(span).join(', ')}`;
    expect(betweenCuts(b).length, spans).toBeGreaterThanOrEqual(2);
    for (const log of [a, b]) expectChained(log);

    const inA = new Set(a.map(span));
    const inB = new Set(b.map(span));
    for (const s of betweenCuts(b)) expect(inA.has(span(s)), `B's ${span(s)} in A: ${spans}`).toBe(true);
    // Over the span both recorded between cuts, A has no cut that B lacks.
    const [from, to] = [b[1]!.sourceStartMs, b.at(-2)!.sourceEndMs];
    for (const s of betweenCuts(a).filter((s) => s.sourceStartMs >= from && s.sourceEndMs <= to)) {
      expect(inB.has(span(s)), `A's ${span(s)} in B: ${spans}`).toBe(true);
    }
    // Each cut is the first keyframe at or after a multiple of 2 s of the source's clock.
    for (const s of [...a.slice(1), ...b.slice(1)]) {
      expect(s.startsWithKeyframe, s.path).toBe(true);
      expect(s.sourceStartMs % 2000, `${span(s)}: ${spans}`).toBeLessThan(GOP_MS);
    }
  });

  it('without it, the same two recorders cut where each one’s own segments end', async () => {
    // 3 s segments of 1 s GOPs: players that join 1–2 s apart get GOP caches 1 or 2 s apart, so each
    // recorder's cuts (its first keyframe + n × 3 s) fall on other keyframes than the other's.
    const { a, b, joinGapMs } = await recordTwice(
      'own-cuts',
      { alignToSource: false, segmentSeconds: 3 },
      1500,
      2,
    );
    const spans = `A ${a.map(span).join(', ')}; B ${b.map(span).join(', ')}`;
    expect(joinGapMs, 'the premise: B joined 1–2 s after A').toBeGreaterThanOrEqual(GOP_MS);
    expect(joinGapMs, 'the premise: B joined 1–2 s after A').toBeLessThan(2 * GOP_MS);
    for (const log of [a, b]) expectChained(log);
    const cutsOfA = new Set(a.slice(1).map((s) => s.sourceStartMs));
    const cutsOfB = b.slice(1).map((s) => s.sourceStartMs);
    expect(cutsOfB.length, spans).toBeGreaterThanOrEqual(1);
    for (const cut of cutsOfB) expect(cutsOfA.has(cut), `B's cut at ${cut} in A: ${spans}`).toBe(false);
  });
});
