import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { writeLocalPlaylist } from './local-playlist.js';
import {
  decodeErrors,
  firstVideoFrameIsKey,
  freeUdpPort,
  probeDuration,
  record,
  sleep,
  startSrtPublisher,
  stopProcess,
  tempDir,
} from './test-support.js';

let dir: { path: string; remove(): Promise<void> };
const publishers: ChildProcess[] = [];
let n = 0;

beforeAll(async () => {
  dir = await tempDir('srt');
});
afterEach(async () => {
  await Promise.all(publishers.splice(0).map(stopProcess));
});
afterAll(async () => {
  await dir?.remove();
});

async function outDir(): Promise<string> {
  const { mkdir } = await import('node:fs/promises');
  const path = join(dir.path, `out-${++n}`);
  await mkdir(path);
  return path;
}

function publish(port: number, size?: string): ChildProcess {
  const p = startSrtPublisher(port, size);
  publishers.push(p);
  return p;
}

describe('recording a live SRT source', () => {
  it('records ~4 s, then stop() closes the last segment cleanly', async () => {
    const port = await freeUdpPort();
    publish(port);
    const outputDir = await outDir();
    const rec = record({
      recordingId: 'srt-live',
      sourceUrl: `srt://127.0.0.1:${port}?mode=caller`,
      outputDir,
      segmentSeconds: 1,
      connectTimeoutSeconds: 2,
      maxIdleSeconds: 10,
    });
    await new Promise((resolve) => rec.recorder.once('started', resolve));
    await sleep(4000);
    const final = await rec.recorder.stop();

    expect(final).toMatchObject({ type: 'stopped', reason: 'requested' });
    expect(rec.order.at(-1)).toBe('stopped');
    expect(rec.segments.length).toBeGreaterThanOrEqual(3);
    for (const s of rec.segments) {
      expect(s.startsWithKeyframe).toBe(true);
      expect(firstVideoFrameIsKey(s.path), s.path).toBe(true);
    }
    expect(rec.segments.every((s) => !s.discontinuity)).toBe(true);
    expect((await readdir(outputDir)).filter((f) => f.endsWith('.part'))).toEqual([]);

    const total = rec.segments.reduce((t, s) => t + s.durationSeconds, 0);
    expect(total).toBeGreaterThan(3);
    expect(total).toBeLessThan(6);
    const playlist = await writeLocalPlaylist(outputDir, 'index.m3u8', rec.segments);
    expect(decodeErrors(playlist)).toBe('');
    expect(Math.abs(probeDuration(playlist) - total)).toBeLessThan(0.5);
    await rec.recorder.release();
  });

  it('rejoins a publisher that restarts with a new resolution, in a new segment flagged discontinuity', async () => {
    const port = await freeUdpPort();
    const first = publish(port);
    const outputDir = await outDir();
    const rec = record({
      recordingId: 'srt-rejoin',
      sourceUrl: `srt://127.0.0.1:${port}?mode=caller`,
      outputDir,
      segmentSeconds: 1,
      connectTimeoutSeconds: 2,
      readTimeoutSeconds: 2,
      maxIdleSeconds: 10,
    });
    await new Promise((resolve) => rec.recorder.once('started', resolve));
    await sleep(2500);
    await stopProcess(first);
    const rejoined = new Promise((resolve) => rec.recorder.on('joined', (e) => e.rejoin && resolve(e)));
    publish(port, '640x360');
    await rejoined;
    await sleep(2500);
    const final = await rec.recorder.stop();

    expect(final).toMatchObject({ type: 'stopped', reason: 'requested' });
    expect(rec.failures.map((f) => f.code)).toContain('SOURCE_LOST');
    expect(rec.failures.map((f) => f.code)).toContain('STREAM_CHANGED');
    const flagged = rec.segments.filter((s) => s.discontinuity);
    expect(flagged).toHaveLength(1);
    expect(rec.segments.indexOf(flagged[0]!)).toBeGreaterThan(0);
    for (const s of rec.segments) expect(firstVideoFrameIsKey(s.path), s.path).toBe(true);
    // The timeline never goes backwards across the rejoin.
    for (let i = 1; i < rec.segments.length; i++) {
      expect(rec.segments[i]!.startPtsSeconds).toBeGreaterThan(rec.segments[i - 1]!.startPtsSeconds);
    }
    const playlist = await writeLocalPlaylist(outputDir, 'index.m3u8', rec.segments);
    expect(decodeErrors(playlist)).toBe('');
    await rec.recorder.release();
  });

  it('release({ cancel: true }) abandons the segment being written', async () => {
    const port = await freeUdpPort();
    publish(port);
    const outputDir = await outDir();
    const rec = record({
      recordingId: 'srt-cancel',
      sourceUrl: `srt://127.0.0.1:${port}?mode=caller`,
      outputDir,
      segmentSeconds: 30,
      connectTimeoutSeconds: 2,
    });
    await new Promise((resolve) => rec.recorder.once('started', resolve));
    await sleep(1500);
    await rec.recorder.release({ cancel: true });
    expect(await rec.final).toMatchObject({ type: 'stopped', reason: 'cancelled', segments: 0 });
    expect(rec.segments).toEqual([]);
    expect(await readdir(outputDir)).toEqual([]);
  });

  it('ends with idle_timeout, keeping its segments, when the publisher goes away for good', async () => {
    const port = await freeUdpPort();
    const p = publish(port);
    const outputDir = await outDir();
    const rec = record({
      recordingId: 'srt-idle',
      sourceUrl: `srt://127.0.0.1:${port}?mode=caller`,
      outputDir,
      segmentSeconds: 1,
      connectTimeoutSeconds: 1,
      readTimeoutSeconds: 1,
      maxIdleSeconds: 2,
    });
    await new Promise((resolve) => rec.recorder.once('started', resolve));
    await sleep(2000);
    await stopProcess(p);
    const final = await rec.final;
    expect(final).toMatchObject({ type: 'stopped', reason: 'idle_timeout' });
    expect(rec.segments.length).toBeGreaterThanOrEqual(1);
    const playlist = await writeLocalPlaylist(outputDir, 'index.m3u8', rec.segments);
    expect(decodeErrors(playlist)).toBe('');
    await rec.recorder.release();
  });
});
