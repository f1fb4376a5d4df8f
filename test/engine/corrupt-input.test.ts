/**
 * Corrupt and truncated input, recorded as `file:` sources. The engine must not crash, must end the
 * recording normally (`source_ended`, after `recorder_failure` CORRUPT_PACKETS when the demuxer flags
 * damage), and every segment it writes must start with a keyframe and decode. Where the input itself
 * carries damaged payload (random bytes inside a packet), the decoder's complaints about the recording
 * may only be ones it also has about the input: the engine must not add errors of its own.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { counters, EngineErrorCode, type SegmentEvent } from '@recfleet/engine-binding';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkPlaylist,
  decodeErrors,
  ffmpeg,
  frameHashes,
  makeTestTs,
  normalizedErrors,
  partFiles,
  probeSegments,
  record,
  seededRandom,
  totalDuration,
  workspace,
  type RecordingLog,
  type Workspace,
} from './support.js';

const TS_PACKET = 188;
const VIDEO_PID = 0x100; // ffmpeg's mpegts muxer gives the first stream PID 256

let ws: Workspace;
let clean: Buffer;
let cleanPath: string;
let cleanFrames: Set<string>;

beforeAll(async () => {
  ws = await workspace('corrupt');
  cleanPath = join(ws.path, 'clean.ts');
  makeTestTs(cleanPath, 6);
  clean = readFileSync(cleanPath);
  cleanFrames = new Set(frameHashes(cleanPath));
  expect(cleanFrames.size).toBe(150); // testsrc2 draws a different picture every frame
});
afterAll(async () => {
  await ws?.remove();
});

async function recordFile(
  name: string,
  bytes: Buffer,
  extension = 'ts',
): Promise<{ log: RecordingLog; input: string; dir: string }> {
  const input = join(ws.path, `${name}.${extension}`);
  writeFileSync(input, bytes);
  const dir = await ws.sub(`out-${name}`);
  const log = record({ recordingId: name, sourceUrl: `file:${input}`, outputDir: dir, segmentSeconds: 1 });
  await log.final;
  await log.recorder.release();
  return { log, input, dir };
}

/** What every recording of damaged input must satisfy. */
async function expectHealthyOutput(log: RecordingLog, dir: string): Promise<void> {
  const final = await log.final;
  expect(final).toMatchObject({ type: 'stopped', reason: 'source_ended' });
  expect(log.order.at(-1)).toBe('stopped');
  expect(log.order.filter((e) => e === 'stopped' || e === 'fatal_error')).toHaveLength(1);
  for (const f of log.failures) expect(f.code).toBe('CORRUPT_PACKETS');
  if (final.type === 'stopped') expect(final.segments).toBe(log.segments.length);
  expect(log.segments.length).toBeGreaterThanOrEqual(1);
  expect(await partFiles(dir)).toEqual([]);
  log.segments.forEach((s, i) => {
    if (i > 0) expect(s.sequence).toBe(log.segments[i - 1]!.sequence + 1);
    expect(s.startsWithKeyframe, s.path).toBe(true);
  });
  for (const v of probeSegments(log.segments)) {
    expect(v.streams, v.path).toContain('video');
    expect(v.firstVideoFrameIsKey, `${v.path} starts with a keyframe`).toBe(true);
  }
}

/** Every segment decodes with no error output at all, and so does the whole playlist. */
async function expectCleanDecode(log: RecordingLog, dir: string): Promise<void> {
  for (const v of probeSegments(log.segments)) {
    expect(v.errors, v.path).toBe('');
    expect(v.decodes, v.path).toBe(true);
  }
  const { errors, exitCode } = await checkPlaylist(dir, log.segments);
  expect(errors).toBe('');
  expect(exitCode).toBe(0);
}

/** Every decoded picture of the recording is one of the clean source's pictures. */
function expectOnlySourcePictures(segments: readonly SegmentEvent[]): void {
  for (const s of segments) {
    const foreign = frameHashes(s.path).filter((h) => !cleanFrames.has(h));
    expect(foreign, `${s.path}: frames that decode to pictures the source never had`).toEqual([]);
  }
}

/** Byte offsets of the TS packets that start a PES of `pid` (payload_unit_start_indicator set). */
function pesStarts(ts: Buffer, pid: number): number[] {
  const starts: number[] = [];
  for (let at = 0; at + TS_PACKET <= ts.length; at += TS_PACKET) {
    expect(ts[at]).toBe(0x47);
    const packetPid = ((ts[at + 1]! & 0x1f) << 8) | ts[at + 2]!;
    if (packetPid === pid && (ts[at + 1]! & 0x40) !== 0) starts.push(at);
  }
  return starts;
}

function randomBytes(rnd: () => number, length: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

describe('corrupt input', () => {
  it('random bytes spliced into the middle of packets: ends normally, adds no decode errors of its own', async () => {
    const rnd = seededRandom(0x5eed01);
    const parts: Buffer[] = [];
    let previous = 0;
    const places = 6;
    for (let i = 1; i <= places; i++) {
      // Spread over the file, never on a packet boundary: the packet there is cut in two.
      let at = Math.floor((clean.length * i) / (places + 1)) + Math.floor(rnd() * 4000);
      if (at % TS_PACKET === 0) at += 1 + Math.floor(rnd() * 180);
      parts.push(clean.subarray(previous, at), randomBytes(rnd, 64 + Math.floor(rnd() * 960)));
      previous = at;
    }
    parts.push(clean.subarray(previous));
    const { log, input, dir } = await recordFile('spliced', Buffer.concat(parts));

    await expectHealthyOutput(log, dir);
    // The demuxer sees the damage (continuity errors), and the caller is told, with counts.
    expect(log.failures.length).toBeGreaterThanOrEqual(1);
    expect(log.failures[0]!.counts.corruptPackets).toBeGreaterThanOrEqual(1);
    // Most of the 6 s survive: only the damaged packets may be lost.
    expect(totalDuration(log.segments)).toBeGreaterThan(5);
    for (const v of probeSegments(log.segments)) {
      // The damaged payload is the input's; the segment itself must still be readable to the end.
      expect(v.streams, v.path).toEqual(expect.arrayContaining(['video', 'audio']));
      const own = normalizedErrors(v.errors).filter((l) => !/^\[(h264|aac)\]/.test(l));
      expect(own, `${v.path}: errors that are not the codec's complaints about damaged payload`).toEqual([]);
    }
    const inputErrors = new Set(normalizedErrors(decodeErrors(input).errors));
    const { errors, exitCode } = await checkPlaylist(dir, log.segments);
    expect(exitCode).toBe(0);
    const added = normalizedErrors(errors).filter((l) => !inputErrors.has(l));
    expect(added, 'decode errors the input does not have').toEqual([]);
  });

  it('random bytes spliced between packets are skipped: the recording is the clean stream, picture for picture', async () => {
    const rnd = seededRandom(0x5eed02);
    const packets = clean.length / TS_PACKET;
    const parts: Buffer[] = [];
    let previous = 0;
    for (let i = 1; i <= 5; i++) {
      const at = Math.floor((packets * i) / 6 + rnd() * 20) * TS_PACKET;
      // No 0x47 in the junk: a sync byte there would be taken for a packet of some stream.
      const junk = randomBytes(rnd, 100 + Math.floor(rnd() * 2000));
      for (let k = 0; k < junk.length; k++) if (junk[k] === 0x47) junk[k] = 0x48;
      parts.push(clean.subarray(previous, at), junk);
      previous = at;
    }
    parts.push(clean.subarray(previous));
    const { log, dir } = await recordFile('between', Buffer.concat(parts));

    await expectHealthyOutput(log, dir);
    expect(log.failures).toEqual([]);
    await expectCleanDecode(log, dir);
    const recorded = log.segments.flatMap((s) => frameHashes(s.path));
    expect(recorded).toEqual(frameHashes(cleanPath));
  });

  it('random bytes spliced between FLV tags are skipped by the demuxer resync, whose zeroed buffer the engine gave back at open', async () => {
    // RTMP and HTTP-FLV go through FFmpeg's FLV demuxer, which resyncs over damage in a 2 MiB buffer
    // the engine returns to the kernel while it is all zeros (native/memory_release.cc). Damage makes
    // the demuxer write there: the pages must come back as zeros and the resync must work as usual.
    const flvPath = join(ws.path, 'clean.flv');
    ffmpeg(['-i', cleanPath, '-c', 'copy', '-f', 'flv', flvPath]);
    const flv = readFileSync(flvPath);
    const tagEnds: number[] = []; // offsets just after each tag's PreviousTagSize field
    for (let at = 13; at + 15 <= flv.length;) {
      at += 11 + flv.readUIntBE(at + 1, 3) + 4;
      tagEnds.push(at);
    }
    expect(tagEnds.at(-1)).toBe(flv.length);
    const rnd = seededRandom(0x5eed05);
    const parts: Buffer[] = [];
    let previous = 0;
    for (let i = 1; i <= 5; i++) {
      const at = tagEnds[Math.floor((tagEnds.length * i) / 6)]!;
      const junk = randomBytes(rnd, 200 + Math.floor(rnd() * 3000));
      // Four zero bytes read as a tag of no type and size 0, which sends the demuxer into its resync.
      // (Junk that opens with a plausible size makes it skip that many bytes instead, past the end
      // of a file, which the FLV demuxer of the FFmpeg CLI treats the same way: end of input.)
      junk.fill(0, 0, 4);
      parts.push(flv.subarray(previous, at), junk);
      previous = at;
    }
    parts.push(flv.subarray(previous));

    const before = counters();
    const { log, dir } = await recordFile('flv-between', Buffer.concat(parts), 'flv');
    await expectHealthyOutput(log, dir);
    await expectCleanDecode(log, dir);
    const recorded = log.segments.flatMap((s) => frameHashes(s.path));
    expect(recorded).toEqual(frameHashes(flvPath));
    if (process.platform === 'linux') {
      const released = counters().zeroBytesReleased - before.zeroBytesReleased;
      expect(released, 'bytes of the FLV demuxer context given back at open').toBeGreaterThanOrEqual(
        1024 * 1024,
      );
    }
  });

  it('packets lost in the middle of GOPs: frames that depend on a skipped packet are not recorded', async () => {
    const starts = pesStarts(clean, VIDEO_PID);
    expect(starts.length).toBe(150); // one PES per frame: 6 s at 25 fps
    // Keyframes every 25 frames and no B-frames, so PES order is frame order. One TS packet goes
    // missing inside frame 51 (the frame right after the third keyframe) and one inside frame 112
    // (mid-GOP). The demuxer flags a packet as corrupt; whichever frame gets the flag, everything that
    // references the lost data is undecodable until the next keyframe and must not be recorded: it
    // would play as pictures the source never had.
    const lost = [starts[51]! + 2 * TS_PACKET, starts[112]! + 2 * TS_PACKET];
    const parts: Buffer[] = [];
    let previous = 0;
    for (const at of lost) {
      parts.push(clean.subarray(previous, at));
      previous = at + TS_PACKET;
    }
    parts.push(clean.subarray(previous));
    const { log, dir } = await recordFile('lost-packets', Buffer.concat(parts));

    await expectHealthyOutput(log, dir);
    expect(log.failures.length).toBeGreaterThanOrEqual(1);
    expect(log.failures[0]!.counts.corruptPackets).toBeGreaterThanOrEqual(1);
    expectOnlySourcePictures(log.segments);
    await expectCleanDecode(log, dir);
    // At most the two damaged GOPs are lost.
    expect(totalDuration(log.segments)).toBeGreaterThan(3.5);
  });

  it.each([
    ['in a video packet', 0.35, 61],
    ['in the middle', 0.6, 97],
    ['near the end', 0.93, 150],
  ])(
    'a file truncated mid-packet (%s) ends with source_ended and decodes cleanly',
    async (_label, fraction, extra) => {
      const cut = Math.floor((clean.length * fraction) / TS_PACKET) * TS_PACKET + extra;
      const { log, input, dir } = await recordFile(
        `truncated-${Math.round(fraction * 100)}`,
        clean.subarray(0, cut),
      );

      await expectHealthyOutput(log, dir);
      const inputErrors = normalizedErrors(decodeErrors(input).errors);
      if (inputErrors.length === 0) {
        await expectCleanDecode(log, dir);
      } else {
        // The last frame of the input is itself incomplete: the engine may add nothing to that.
        const { errors } = await checkPlaylist(dir, log.segments);
        expect(normalizedErrors(errors).filter((l) => !inputErrors.includes(l))).toEqual([]);
      }
      expectOnlySourcePictures(log.segments.slice(0, -1));
      expect(totalDuration(log.segments)).toBeGreaterThan(6 * fraction - 1.2);
      expect(totalDuration(log.segments)).toBeLessThan(6 * fraction + 0.2);
    },
  );

  it('a file of pure random bytes fails with a stable code, writes nothing, and does not crash', async () => {
    const rnd = seededRandom(0x5eed03);
    const { log, dir } = await recordFile('noise', randomBytes(rnd, 256 * 1024));
    const final = await log.final;
    expect(final.type).toBe('fatal_error');
    if (final.type !== 'fatal_error') throw new Error('unreachable');
    expect(Object.values(EngineErrorCode)).toContain(final.code);
    // Random bytes are no container FFmpeg knows: not media, rather than an unreachable source.
    expect(final.code).toBe('NO_MEDIA');
    expect(log.order).toEqual(['fatal_error']);
    expect(log.segments).toEqual([]);
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(dir)).toEqual([]);
  });

  it('stays healthy afterwards: no recorder left running, and a clean file still records cleanly', async () => {
    expect(counters()).toMatchObject({ activeRecorders: 0, threads: 0 });
    const { log, dir } = await recordFile('after', clean);
    await expectHealthyOutput(log, dir);
    expect(log.failures).toEqual([]);
    expect(log.segments).toHaveLength(6);
    await expectCleanDecode(log, dir);
    expect(counters()).toMatchObject({ activeRecorders: 0, threads: 0 });
  });
});
