/**
 * The chaos soak's audit, object by object, once every recording has ended and every spool is empty:
 * what Redis says (each track's segment index, the events every owner reported, the record, the job)
 * against what the store holds (the objects and the final playlists), and what FFmpeg says of each
 * playlist. Nothing here trusts the worker's own summary of what it delivered.
 */
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseTrackId, recordingRedisKeys, TERMINAL_EVENTS } from '@recfleet/contract';
import type { RecordingClient } from '@recfleet/client';
import {
  recordingObjectKeys,
  userTrackObjectKeys,
  type IndexedSegment,
  type RecordingObjectKeys,
  type S3Storage,
} from '@recfleet/storage';
import type { Redis } from 'ioredis';
import { readPlaylist, type PlaylistEntry } from './channel-media.js';
import { decodePlaylist } from './media-check.js';
import { getWithRetry } from './store-reads.js';

/** How far a segment may begin before the end of the one before it and not count as overlapping media. */
export const OVERLAP_SLACK_MS = 500;

/** One track's playlist, as program dates: every step from one entry to the next. */
export interface TrackMedia {
  recordingId: string;
  track: string;
  segments: number;
  /**
   * For each pair of neighbouring entries: where the first ends (its date + EXTINF, ms since the epoch)
   * and how long until the next begins (ms; negative: they overlap).
   */
  gaps: { at: number; ms: number }[];
}

export interface ChaosAudit {
  recordings: number;
  tracks: number;
  /** Segments the final playlists list. */
  segments: number;
  /** `segment` events in the recordings' streams (a finished segment, as its owner reported it). */
  reportedSegments: number;
  /** Reported and not listed, nor explained: finished media that no playlist has. */
  lostSegments: number;
  /**
   * Reported and not listed because a newer owner recorded the same media: the fenced owner's segments
   * after the claim (listing them would overlap its successor's).
   */
  fencedSegments: number;
  /** Neighbouring entries whose media overlap by more than OVERLAP_SLACK_MS. */
  overlaps: number;
  /** Playlists on which FFmpeg printed an error line (or that could not be read). */
  decodeFailures: number;
  /** Recordings without exactly one terminal event (or whose one is not a delivery). */
  terminalProblems: number;
  /** Changes of owner along the playlists (every resume after a fault). */
  takeovers: number;
  media: TrackMedia[];
  /** Every finding, one line each, naming the recording (empty when all is well). */
  problems: string[];
}

/** A recording of the soak: its id, channel, and kind. */
export interface SoakRecording {
  id: string;
  channel: string;
  kind: 'single' | 'channel';
}

/** Every track index of the recording (`stream` for a single stream's, `<uid>-<type>` for a user's). */
export async function trackIndexKeys(redis: Redis, r: SoakRecording): Promise<Map<string, string>> {
  const keys = recordingRedisKeys('recfleet', r.id);
  if (r.kind === 'single') return new Map([['stream', keys.segments]]);
  // Beside each index lies its version (`…:version`): only track ids name an index.
  const found = await redis.keys(`${keys.segments}:*`);
  return new Map(
    found
      .map((k) => [k.slice(keys.segments.length + 1), k] as const)
      .filter(([track]) => parseTrackId(track) !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

interface RawEvent {
  type: string;
  at: number;
  epoch: number | undefined;
  data: Record<string, unknown>;
}

async function rawEvents(redis: Redis, recordingId: string): Promise<RawEvent[]> {
  const entries = await redis.xrange(recordingRedisKeys('recfleet', recordingId).events, '-', '+');
  return entries.map(([, flat]) => {
    const f = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) f.set(flat[i]!, flat[i + 1]!);
    return {
      type: f.get('type') ?? '',
      at: Number(f.get('at')),
      epoch: f.has('epoch') ? Number(f.get('epoch')) : undefined,
      data: JSON.parse(f.get('data') ?? '{}') as Record<string, unknown>,
    };
  });
}

function objectKeysOf(r: SoakRecording, track: string): RecordingObjectKeys | undefined {
  if (r.kind === 'single') return recordingObjectKeys(r.id, r.channel);
  const t = parseTrackId(track);
  return t ? userTrackObjectKeys(r.id, r.channel, t.uid, t.type) : undefined;
}

async function downloadAll(store: S3Storage, keys: string[], dir: string): Promise<void> {
  const queue = [...keys];
  const worker = async (): Promise<void> => {
    for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
      const body = await getWithRetry(store, key);
      if (body) await writeFile(join(dir, key), body);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

/** Audits every recording of the soak; see the module comment. */
export async function auditRecordings(args: {
  redis: Redis;
  client: RecordingClient;
  store: S3Storage;
  recordings: SoakRecording[];
  workDir: string;
  /** Where to keep what FFmpeg did not decode cleanly (a playlist and its segments), for a post-mortem. */
  keepDir?: string;
  log: (line: string) => void;
}): Promise<ChaosAudit> {
  const { redis, client, store, recordings, workDir } = args;
  const audit: ChaosAudit = {
    recordings: recordings.length,
    tracks: 0,
    segments: 0,
    reportedSegments: 0,
    lostSegments: 0,
    fencedSegments: 0,
    overlaps: 0,
    decodeFailures: 0,
    terminalProblems: 0,
    takeovers: 0,
    media: [],
    problems: [],
  };
  const problem = (line: string): void => void audit.problems.push(line);

  for (const r of recordings) {
    const events = await rawEvents(redis, r.id);
    if (events[0]?.type !== 'queued') {
      problem(
        `${r.id}: its event stream does not begin with 'queued' (trimmed?): segment events may be missing`,
      );
    }
    const terminal = events.filter((e) => (TERMINAL_EVENTS as readonly string[]).includes(e.type));
    const drainedAfter = events.findIndex((e) => e.type === 'drained') > events.indexOf(terminal[0]!);
    const delivered =
      terminal.length === 1 &&
      (terminal[0]!.type === 'uploaded' || (terminal[0]!.type === 'backed_up' && drainedAfter));
    if (!delivered) {
      audit.terminalProblems += 1;
      problem(
        `${r.id}: terminal events ${JSON.stringify(terminal.map((e) => ({ type: e.type, ...e.data })))}` +
          (drainedAfter ? '' : ' (no drained event after a backed_up)'),
      );
    }
    const stops = events.filter((e) => e.type === 'stopped').map((e) => e.data.reason);
    if (stops.some((reason) => reason !== 'requested')) problem(`${r.id}: stopped for ${stops.join(', ')}`);
    const status = await client.get(r.id);
    if (status.state !== 'uploaded' || status.jobState !== 'completed') {
      problem(`${r.id}: state ${status.state}, job ${status.jobState}`);
    }

    const tracks = await trackIndexKeys(redis, r);
    if (r.kind === 'channel') {
      const users = await redis.hkeys(recordingRedisKeys('recfleet', r.id).users);
      if (users.length !== 2) problem(`${r.id}: users recorded ${users.join(',') || 'none'}, expected 2`);
    }
    const indexedKeys = new Set<string>();
    for (const [track, indexKey] of tracks) {
      audit.tracks += 1;
      const what = `${r.id} ${track}`;
      const keys = objectKeysOf(r, track);
      if (!keys) {
        problem(`${what}: not a track id`);
        continue;
      }
      const index = (await redis.hvals(indexKey))
        .map((v) => JSON.parse(v) as IndexedSegment)
        .sort((a, b) => a.sequence - b.sequence);
      for (const s of index) indexedKeys.add(s.key);
      checkIndex(what, index, keys, problem);
      audit.takeovers += index.filter((s, i) => i > 0 && s.epoch !== index[i - 1]!.epoch).length;

      // Every segment an owner reported finished is listed under that owner's epoch, or was recorded
      // after a newer owner's claim: then the newer owner's media covers it.
      const reported = events.filter(
        (e) => e.type === 'segment' && (r.kind === 'single' || e.data.track === track),
      );
      audit.reportedSegments += reported.length;
      const bySequence = new Map(index.map((s) => [s.sequence, s]));
      for (const e of reported) {
        const sequence = Number(e.data.sequence);
        const listed = bySequence.get(sequence);
        if (listed && listed.epoch === e.epoch) {
          if (listed.bytes !== e.data.bytes)
            problem(`${what} ${sequence}: reported ${String(e.data.bytes)} bytes, indexed ${listed.bytes}`);
          continue;
        }
        const start = Number(e.data.programDateTime);
        const end = start + Number(e.data.durationSeconds) * 1000;
        const successor = index.find((s) => (s.epoch ?? 0) > (e.epoch ?? 0));
        if (successor && end > (successor.programDateTime ?? Infinity) - OVERLAP_SLACK_MS) {
          audit.fencedSegments += 1;
          continue;
        }
        audit.lostSegments += 1;
        problem(
          `${what}: segment ${sequence} of epoch ${String(e.epoch)} (${new Date(start).toISOString()}, ` +
            `${String(e.data.durationSeconds)} s) was reported finished and is not listed` +
            (listed ? ` (sequence ${sequence} is epoch ${String(listed.epoch)}'s)` : ''),
        );
      }

      const dir = join(workDir, r.id, track);
      await mkdir(dir, { recursive: true });
      const text = await store.get(keys.playlistKey);
      if (!text) {
        problem(`${what}: no playlist ${keys.playlistKey} in the store`);
        audit.decodeFailures += 1;
        continue;
      }
      const playlistPath = join(dir, keys.playlistKey);
      await writeFile(playlistPath, text);
      const playlist = await readPlaylist(playlistPath);
      if (!playlist.ended) problem(`${what}: the playlist has no ENDLIST`);
      const listed = playlist.entries.map((e) => e.uri);
      const indexedNames = index.map((s) => keys.segmentName(s.sequence));
      if (JSON.stringify(listed) !== JSON.stringify(indexedNames)) {
        problem(
          `${what}: the playlist lists ${listed.length} segments that are not the index's ${index.length}`,
        );
      }
      audit.segments += listed.length;
      const undated = playlist.entries.filter((e) => !Number.isFinite(e.programDateTime)).length;
      if (undated > 0) problem(`${what}: ${undated} entries without a program date-time`);
      const media = gapsOf(r.id, track, playlist.entries);
      audit.media.push(media);
      for (const g of media.gaps) {
        if (g.ms >= -OVERLAP_SLACK_MS) continue;
        audit.overlaps += 1;
        problem(`${what}: entries overlap by ${-g.ms} ms at ${new Date(g.at).toISOString()}`);
      }

      // The store holds exactly the indexed segments, with the indexed bytes.
      const objects = (await store.list(`${keys.baseName}_`)).filter((o) => o.key.endsWith('.ts'));
      const stored = new Map(objects.map((o) => [o.key, o]));
      for (const s of index) {
        const o = stored.get(s.key);
        if (!o) {
          audit.lostSegments += 1;
          problem(`${what}: ${s.key} is indexed and not in the store`);
        } else if (o.bytes !== s.bytes || (s.md5 !== undefined && o.md5 !== s.md5)) {
          problem(`${what}: ${s.key} holds ${o.bytes} bytes (md5 ${o.md5}), indexed ${s.bytes} (${s.md5})`);
        }
      }
      await downloadAll(
        store,
        index.map((s) => s.key).filter((k) => stored.has(k)),
        dir,
      );
      const decoded = decodePlaylist(playlistPath);
      if (decoded.errors !== '' || decoded.exitCode !== 0) {
        const handedOff = new Set(events.filter((e) => e.type === 'handoff').map((e) => e.epoch));
        const epochOf = new Map(index.map((s) => [keys.segmentName(s.sequence), s.epoch]));
        const where = await locateDecodeErrors(dir, playlist.entries, (last, next) => {
          // The last segment of an owner that handed off: the next one is another owner's.
          const epoch = epochOf.get(last);
          return handedOff.has(epoch) && epochOf.get(next) !== epoch;
        });
        const line =
          `${what}: ffmpeg: ${firstLines(decoded.errors) || `exit ${decoded.exitCode}`}; ` +
          (where.map((w) => w.what).join('; ') || 'not located');
        audit.decodeFailures += 1;
        problem(line);
        if (args.keepDir) await cp(dir, join(args.keepDir, r.id, track), { recursive: true });
      }
      await rm(dir, { recursive: true, force: true });
    }
    // No segment object of the recording beyond its indexes (a writer that had lost it wrote none).
    const extra = (await store.list(`${r.id}_`))
      .filter((o) => o.key.endsWith('.ts') && !indexedKeys.has(o.key))
      .map((o) => o.key);
    if (extra.length > 0) problem(`${r.id}: objects no index lists: ${extra.slice(0, 5).join(', ')}`);
  }
  return audit;
}

const firstLines = (text: string): string => text.split('\n').slice(0, 3).join(' | ');

function playlistOf(entries: PlaylistEntry[]): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:4', '#EXT-X-MEDIA-SEQUENCE:0'];
  entries.forEach((e, i) => {
    if (i > 0 && e.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
    lines.push(`#EXTINF:${e.extinf},`, e.uri);
  });
  return `${lines.join('\n')}\n#EXT-X-ENDLIST\n`;
}

/**
 * Where FFmpeg's errors on a playlist are. FFmpeg evens out a discontinuity's jump in timestamps from
 * where each stream stood, so an error may depend on every junction before it: playlists are decoded
 * from a stretch's start (a stretch runs from one discontinuity to the next) through ever more of what
 * follows, and a binary search finds the first place that fails — inside a stretch, or at a junction
 * (through the first segment after a discontinuity). The search goes on from the stretch after it, in
 * a fresh decode. `handoffAt(last, next)` says whether a junction is where an owner handed the
 * recording off (SIGTERM): its last segment ends where the stop found it, mid-GOP, its audio up to a
 * frame short of its video.
 */
async function locateDecodeErrors(
  dir: string,
  entries: PlaylistEntry[],
  handoffAt: (last: string, next: string) => boolean,
): Promise<{ what: string; handoff: boolean }[]> {
  const starts = entries.flatMap((e, i) => (i === 0 || e.discontinuity ? [i] : []));
  const found: { what: string; handoff: boolean }[] = [];
  let decodes = 0;
  const errorsOf = async (from: number, to: number): Promise<string> => {
    const path = join(dir, `part-${decodes++}.m3u8`);
    await writeFile(path, playlistOf(entries.slice(from, to)));
    return decodePlaylist(path).errors;
  };
  // Point p of stretches from..: even, through the end of stretch from + p/2; odd, one segment more.
  const endOf = (from: number, p: number): number => {
    const k = from + Math.floor(p / 2);
    const end = starts[k + 1] ?? entries.length;
    return p % 2 === 1 ? end + 1 : end;
  };
  for (let from = 0; from < starts.length;) {
    const points = 2 * (starts.length - from) - 1;
    if (!(await errorsOf(starts[from]!, entries.length))) break;
    let [lo, hi] = [0, points - 1];
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (await errorsOf(starts[from]!, endOf(from, mid))) hi = mid;
      else lo = mid + 1;
    }
    const k = from + Math.floor(lo / 2);
    const errors = firstLines(await errorsOf(starts[from]!, endOf(from, lo)));
    if (lo % 2 === 0) {
      found.push({ what: `in the stretch from ${entries[starts[k]!]!.uri}: ${errors}`, handoff: false });
    } else {
      const last = entries[starts[k + 1]! - 1]!;
      const next = entries[starts[k + 1]!]!;
      const handoff = handoffAt(last.uri, next.uri);
      found.push({
        what: `at the discontinuity after ${last.uri} (${last.extinf} s${handoff ? ', handed off' : ''}): ${errors}`,
        handoff,
      });
    }
    from = k + 1;
  }
  return found;
}

/** Sequences contiguous from 0, all in the primary, under their keys; one writer at a time. */
function checkIndex(
  what: string,
  index: IndexedSegment[],
  keys: RecordingObjectKeys,
  problem: (line: string) => void,
): void {
  const sequences = index.map((s) => s.sequence);
  if (sequences.some((s, i) => s !== i))
    problem(`${what}: sequences not contiguous from 0: ${compact(sequences)}`);
  for (const s of index) {
    if (s.location !== 'primary') problem(`${what}: ${s.sequence} is in ${s.location}`);
    if (s.key !== keys.segmentKey(s.sequence)) problem(`${what}: ${s.sequence} is indexed as ${s.key}`);
  }
  for (let i = 1; i < index.length; i++) {
    const [prev, cur] = [index[i - 1]!, index[i]!];
    if ((cur.epoch ?? 0) < (prev.epoch ?? 0)) {
      problem(`${what}: epoch goes back from ${prev.epoch} to ${cur.epoch} at ${cur.sequence}`);
    } else if (cur.epoch !== prev.epoch && !cur.discontinuity) {
      problem(`${what}: a new writer at ${cur.sequence} without a discontinuity`);
    }
  }
}

function gapsOf(recordingId: string, track: string, entries: PlaylistEntry[]): TrackMedia {
  const gaps: TrackMedia['gaps'] = [];
  for (let i = 1; i < entries.length; i++) {
    const prev = entries[i - 1]!;
    const at = prev.programDateTime + prev.extinf * 1000;
    gaps.push({ at, ms: Math.round(entries[i]!.programDateTime - at) });
  }
  return { recordingId, track, segments: entries.length, gaps };
}

/** `0-41,43-80`: a sequence list short enough for a problem line. */
function compact(sequences: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < sequences.length;) {
    let j = i;
    while (j + 1 < sequences.length && sequences[j + 1] === sequences[j]! + 1) j++;
    parts.push(i === j ? `${sequences[i]}` : `${sequences[i]}-${sequences[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
