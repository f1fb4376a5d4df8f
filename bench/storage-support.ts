/**
 * Support of the storage benchmarks (`bench/storage-bench.ts`, `bench/long-bench.ts`,
 * `bench/worker-bench.ts`): s3rver in a child process, real MPEG-TS segments made once with FFmpeg, an
 * S3 client for it, and a store that counts what is written to it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { S3Storage, type PutBody, type StorageAdapter, type StoredObject } from '@recfleet/storage';

export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface S3rverProcess {
  endpoint: string;
  port: number;
  pid: number;
  stop(): void;
}

/** Starts s3rver (bench/s3rver-child.ts) keeping its objects in `dataDir`. */
export async function startS3rver(dataDir: string): Promise<S3rverProcess> {
  const script = fileURLToPath(new URL('./s3rver-child.js', import.meta.url));
  const proc: ChildProcess = spawn(process.execPath, [script, dataDir], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: proc.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`s3rver exited early (code ${code})`)));
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    pid: proc.pid!,
    stop: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    },
  };
}

/** recfleet's S3 adapter on s3rver, with the settings an S3-compatible endpoint needs; the bucket is made. */
export async function s3rverStore(endpoint: string, bucket: string): Promise<S3Storage> {
  const store = new S3Storage({
    bucket,
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    checksumMode: 'WHEN_REQUIRED',
    credentials: S3RVER_CREDENTIALS,
    requestTimeoutMs: 30_000,
  });
  await store.client.send(new CreateBucketCommand({ Bucket: bucket }));
  return store;
}

/**
 * A real MPEG-TS segment of `seconds` of H.264 video (and AAC audio unless `audio` is false), made once
 * with FFmpeg. A playlist that lists one video-only segment many times plays without an error (FFmpeg
 * moves each repeat after the last); with audio, whose last AAC frame runs past the video, it does not.
 */
export async function makeSegment(
  dir: string,
  spec: {
    width: number;
    height: number;
    fps: number;
    videoBitrate: string;
    seconds: number;
    audio?: boolean;
  },
): Promise<string> {
  const out = join(dir, `seg-${spec.width}x${spec.height}-${spec.seconds}s.ts`);
  const audio = spec.audio ?? true;
  await promisify(execFile)('ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-y'],
    ...['-f', 'lavfi', '-i', `testsrc2=size=${spec.width}x${spec.height}:rate=${spec.fps}`],
    ...(audio ? ['-f', 'lavfi', '-i', 'sine'] : []),
    ...['-c:v', 'libx264', '-preset', 'veryfast', '-b:v', spec.videoBitrate, '-g', String(spec.fps * 2)],
    ...(audio ? ['-c:a', 'aac', '-b:a', '64k'] : []),
    ...['-t', String(spec.seconds), '-f', 'mpegts', out],
  ]);
  return out;
}

/** What a counted store has been given to write, by kind of object. */
export interface WrittenBytes {
  segments: number;
  livePlaylists: number;
  completePlaylists: number;
  other: number;
  puts: number;
}

/**
 * A store that counts the bytes of every put that succeeded, sorted by what the key names (a segment,
 * a live playlist, a complete playlist): what the pipeline wrote, beside what it was asked to deliver.
 */
export function countingStore(store: StorageAdapter): { store: StorageAdapter; written: WrittenBytes } {
  const written: WrittenBytes = { segments: 0, livePlaylists: 0, completePlaylists: 0, other: 0, puts: 0 };
  const counted: StorageAdapter = Object.create(store) as StorageAdapter;
  counted.put = async (key: string, body: PutBody): Promise<StoredObject> => {
    const stored = await store.put(key, body);
    written.puts += 1;
    if (key.endsWith('.ts')) written.segments += stored.bytes;
    else if (key.endsWith('.live.m3u8')) written.livePlaylists += stored.bytes;
    else if (key.endsWith('.m3u8')) written.completePlaylists += stored.bytes;
    else written.other += stored.bytes;
    return stored;
  };
  return { store: counted, written };
}
