/**
 * The per-recording upload pipeline against a real S3 server (s3rver), with faults injected by a proxy:
 * the live playlist and (in a recording this short) the EVENT playlist in the store follow every
 * verified segment, a corrupted body or a lying ETag is detected and retried, and the final playlist
 * conforms (m3u8-parser) and plays (ffmpeg).
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { RecordingUploader, recordingObjectKeys, S3Storage, UploadSlots } from '@recfleet/storage';
// @ts-expect-error m3u8-parser ships no type declarations
import { Parser } from 'm3u8-parser';
// @ts-expect-error s3rver ships no type declarations
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCorruptingProxy, type CorruptingProxy } from '../src/fakes/corrupting-proxy.js';
import { decodePlaylist } from '../src/harness/media-check.js';
import { getWithRetry } from '../src/harness/store-reads.js';

let dir: string;
let s3: { run(): Promise<{ port: number }>; close(): Promise<void> };
let proxy: CorruptingProxy;
let sourceSegments: string[];

function store(endpoint: string): S3Storage {
  return new S3Storage({
    bucket: 'rec',
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    checksumMode: 'WHEN_REQUIRED',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestTimeoutMs: 5000,
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recfleet-pipeline-'));
  s3 = new S3rver({ address: '127.0.0.1', port: 0, directory: join(dir, 's3'), silent: true });
  const { port } = await s3.run();
  await store(`http://127.0.0.1:${port}`).client.send(new CreateBucketCommand({ Bucket: 'rec' }));
  proxy = await startCorruptingProxy(`http://127.0.0.1:${port}`);
  // Real MPEG-TS segments, cut by FFmpeg's own segmenter, so the playlist can be played at the end.
  const src = join(dir, 'src');
  await mkdir(src);
  const r = spawnSync(
    'ffmpeg',
    [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=320x240:rate=25',
      '-f',
      'lavfi',
      '-i',
      'sine',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-g',
      '25',
      '-c:a',
      'aac',
      '-t',
      '4',
      '-f',
      'segment',
      '-segment_time',
      '1',
      '-segment_format',
      'mpegts',
      join(src, 's%03d.ts'),
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  sourceSegments = (await readdir(src)).sort().map((f) => join(src, f));
});

afterAll(async () => {
  await proxy?.close();
  await s3?.close();
  await rm(dir, { recursive: true, force: true });
});

async function spool(i: number, name: string): Promise<{ path: string; bytes: number }> {
  const path = join(dir, `${name}-${i}.ts`);
  await copyFile(sourceSegments[i]!, path);
  const { size } = await import('node:fs/promises').then((fs) => fs.stat(path));
  return { path, bytes: size };
}

function parse(text: string): { segments: { uri: string }[]; endList?: boolean; playlistType?: string } {
  const parser = new Parser();
  parser.push(text);
  parser.end();
  return parser.manifest;
}

describe('upload pipeline on S3', () => {
  it('keeps a live EVENT playlist in the store that lists exactly the verified segments', async () => {
    const s = store(proxy.url);
    const keys = recordingObjectKeys('live1', 'room 1', 'p');
    const uploader = new RecordingUploader(s, keys, { slots: new UploadSlots(2) });
    const seen: { sequence: number; listed: string[]; live: string[]; ended: boolean }[] = [];
    const reads: Promise<void>[] = [];
    uploader.on('uploaded', (e) => {
      // A failed read fails the test through `reads`, not as an unhandled rejection.
      reads.push(
        Promise.all([getWithRetry(s, keys.playlistKey), getWithRetry(s, keys.livePlaylistKey)]).then(
          ([b, l]) => {
            const m = parse(b!.toString('utf8'));
            const live = parse(l!.toString('utf8'));
            seen.push({
              sequence: e.sequence,
              listed: m.segments.map((x) => x.uri),
              live: live.segments.map((x) => x.uri),
              ended: m.endList === true || live.endList === true,
            });
          },
        ),
      );
    });
    for (let i = 0; i < sourceSegments.length; i++) {
      const f = await spool(i, 'live');
      uploader.add({
        sequence: i,
        filePath: f.path,
        durationSeconds: 1,
        bytes: f.bytes,
        discontinuity: false,
      });
    }
    // Every segment's view is read before the recording ends: a read still under way (retried) when the
    // final playlist is written would see its ENDLIST.
    await expect.poll(() => reads.length, { timeout: 30_000 }).toBe(sourceSegments.length);
    await Promise.all(reads);
    const outcome = await uploader.finish();
    expect(outcome.outcome, JSON.stringify(outcome.error)).toBe('uploaded');
    expect(seen.length).toBe(sourceSegments.length);
    for (const view of seen) {
      expect(view.ended).toBe(false);
      expect(view.listed).toContain(keys.segmentName(view.sequence));
      expect(view.live).toContain(keys.segmentName(view.sequence));
    }
    const final = parse((await s.get(keys.playlistKey))!.toString('utf8'));
    expect(final.endList).toBe(true);
    expect(final.playlistType).toBe('EVENT');
    expect(final.segments.map((x) => x.uri)).toEqual(sourceSegments.map((_, i) => keys.segmentName(i)));

    const local = join(dir, 'live-download');
    await mkdir(local);
    for (const o of await s.list('p/')) await writeFile(join(local, o.key.slice(2)), (await s.get(o.key))!);
    const decoded = decodePlaylist(join(local, keys.playlistKey.slice(2)));
    expect(decoded.errors).toBe('');
  });

  it.each([
    ['a corrupted body', 'corruptBodies'],
    ['a wrong ETag', 'wrongEtag'],
  ] as const)('detects %s, retries, and stores the exact bytes', async (_label, fault) => {
    const s = store(proxy.url);
    const keys = recordingObjectKeys(`fault-${fault}`, 'room');
    const uploader = new RecordingUploader(s, keys, {
      retry: { attempts: 5, baseDelayMs: 10, maxDelayMs: 50 },
    });
    const failures: { code: string; willRetry: boolean }[] = [];
    proxy.faults[fault] = true;
    uploader.on('uploader_failure', (f) => {
      failures.push(f);
      proxy.faults[fault] = false; // the next attempt goes through untouched
    });
    const f = await spool(0, fault);
    uploader.add({ sequence: 0, filePath: f.path, durationSeconds: 1, bytes: f.bytes, discontinuity: false });
    const outcome = await uploader.finish();
    proxy.faults[fault] = false;
    expect(failures[0]).toMatchObject({ code: 'STORAGE_INTEGRITY', willRetry: true });
    expect(outcome.outcome).toBe('uploaded');
    const stored = await store(proxy.url).get(keys.segmentKey(0));
    const original = await import('node:fs/promises').then((fs) => fs.readFile(sourceSegments[0]!));
    expect(stored!.equals(original)).toBe(true);
  });
});
