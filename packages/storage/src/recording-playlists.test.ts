/**
 * The owner's two playlists, through the real uploader on local disk (tmpfs where there is one, so
 * that thousands of segments take a second or two): the live window after every segment, the complete
 * playlist's schedule and its bound, and the final playlists.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalDiskStorage } from './local-disk-storage.js';
import { recordingObjectKeys } from './object-keys.js';
import { renderPlaylist } from './playlist.js';
import { COMPLETE_LAG_FRACTION, LIVE_WINDOW_TARGET_DURATIONS } from './recording-playlists.js';
import { RecordingUploader } from './recording-uploader.js';
import { MemorySegmentIndex } from './segment-index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'recfleet-playlists-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Parsed {
  mediaSequence: number;
  discontinuitySequence: number;
  target: number;
  uris: string[];
  durations: number[];
  discontinuities: number;
  ended: boolean;
  type: string | undefined;
}

function parse(text: string): Parsed {
  const p: Parsed = {
    mediaSequence: -1,
    discontinuitySequence: 0,
    target: 0,
    uris: [],
    durations: [],
    discontinuities: 0,
    ended: false,
    type: undefined,
  };
  for (const line of text.trim().split('\n')) {
    const [tag, value = ''] = line.split(/:(.*)/);
    if (tag === '#EXT-X-MEDIA-SEQUENCE') p.mediaSequence = Number(value);
    else if (tag === '#EXT-X-DISCONTINUITY-SEQUENCE') p.discontinuitySequence = Number(value);
    else if (tag === '#EXT-X-TARGETDURATION') p.target = Number(value);
    else if (tag === '#EXT-X-PLAYLIST-TYPE') p.type = value;
    else if (tag === '#EXTINF') p.durations.push(Number(value.replace(',', '')));
    else if (line === '#EXT-X-DISCONTINUITY') p.discontinuities += 1;
    else if (line === '#EXT-X-ENDLIST') p.ended = true;
    else if (!line.startsWith('#')) p.uris.push(line);
  }
  return p;
}

const keys = recordingObjectKeys('rec-long', 'lobby');
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/** Segment `i`: 2 s, a discontinuity at 700, sequence 1500 missing (a gap). */
const sequenceOf = (i: number): number => (i < 1500 ? i : i + 1);
const durationOf = (i: number): number => (i % 7 === 3 ? 2.5 : 2);

describe('live and complete playlists of a long recording', () => {
  it('keeps the live window current after every segment and the complete one within its bound', async () => {
    const store = new LocalDiskStorage(join(dir, 'store'));
    const uploader = new RecordingUploader(store, keys, {
      index: new MemorySegmentIndex(),
      recordPlaylistWrites: true,
    });
    const total = 3000;
    const checks: { i: number; live: Parsed }[] = [];
    let deliveredSeconds = 0;
    uploader.on('uploaded', (e) => {
      const i = e.sequence > 1500 ? e.sequence - 1 : e.sequence;
      deliveredSeconds += durationOf(i);
      // Read synchronously: nothing else writes until this handler returns.
      checks.push({ i, live: parse(readFileSyncText(keys.livePlaylistKey)) });
      if (i % 10 !== 0) return;
      const listed = sum(parse(readFileSyncText(keys.playlistKey)).durations);
      // The bound the docs give: the complete playlist lacks at most 5% of what it lists.
      expect(deliveredSeconds - listed).toBeLessThanOrEqual(COMPLETE_LAG_FRACTION * listed + 1e-6);
    });
    for (let i = 0; i < total; i++) {
      const filePath = join(dir, `s${i}.ts`);
      await writeFile(filePath, `segment ${i}`);
      uploader.add({
        sequence: sequenceOf(i),
        filePath,
        durationSeconds: durationOf(i),
        bytes: Buffer.byteLength(`segment ${i}`),
        discontinuity: i === 700,
        programDateTime: Date.UTC(2026, 0, 1) + i * 2000,
      });
    }
    const outcome = await uploader.finish();
    expect(outcome.outcome).toBe('uploaded');
    expect(checks).toHaveLength(total);

    for (const { i, live } of checks) {
      // The newest segment is listed, last; the window is contiguous in the recording.
      expect(live.uris.at(-1)).toBe(keys.segmentName(sequenceOf(i)));
      expect(live.type).toBeUndefined();
      expect(live.ended).toBe(false);
      expect(live.uris[0]).toBe(keys.segmentName(live.mediaSequence));
      expect(live.target).toBe(i >= 3 ? 3 : 2);
      const seconds = sum(live.durations);
      if (i > 20) {
        expect(seconds).toBeGreaterThanOrEqual(LIVE_WINDOW_TARGET_DURATIONS * live.target);
        // RFC 8216 §6.2.2: a segment leaves only while 3 target durations remain without it.
        expect(seconds - live.durations[0]!).toBeGreaterThanOrEqual(3 * live.target);
        expect(seconds - live.durations[0]!).toBeLessThan(LIVE_WINDOW_TARGET_DURATIONS * live.target);
      }
      // Discontinuities that slid out are counted: the flag at 700, the gap before 1501.
      const first = live.mediaSequence;
      const slidOut = (first >= 700 ? 1 : 0) + (first >= 1501 ? 1 : 0);
      expect(live.discontinuitySequence).toBe(slidOut);
    }

    // The final playlists: the complete one exactly as rendered from the whole index, both ended.
    const complete = await readFile(join(dir, 'store', keys.playlistKey), 'utf8');
    const expected = renderPlaylist(
      Array.from({ length: total }, (_, i) => ({
        sequence: sequenceOf(i),
        uri: keys.segmentName(sequenceOf(i)),
        durationSeconds: durationOf(i),
        discontinuity: i === 700,
        programDateTime: Date.UTC(2026, 0, 1) + i * 2000,
      })),
      { ended: true },
    );
    expect(complete).toBe(expected);
    const live = parse(await readFile(join(dir, 'store', keys.livePlaylistKey), 'utf8'));
    expect(live.ended).toBe(true);
    expect(live.uris.at(-1)).toBe(keys.segmentName(sequenceOf(total - 1)));

    // What the playlists cost: the live ones a constant size, the complete ones a bounded multiple of
    // the final one (2 + 1 / fraction, the final write included), not one complete playlist per segment.
    const writes = uploader.playlistWrites;
    const liveBytes = writes.filter((w) => w.kind === 'live').map((w) => w.bytes);
    expect(Math.max(...liveBytes)).toBeLessThan(2000);
    const completeBytes = sum(writes.filter((w) => w.kind === 'complete').map((w) => w.bytes));
    expect(completeBytes).toBeLessThanOrEqual((2 + 1 / COMPLETE_LAG_FRACTION) * Buffer.byteLength(expected));
    expect(writes.filter((w) => w.kind === 'complete').length).toBeLessThan(total / 10);
  });
});

function readFileSyncText(key: string): string {
  return readFileSync(join(dir, 'store', key), 'utf8');
}
