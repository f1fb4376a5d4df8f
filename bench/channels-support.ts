/**
 * Support of the channels benchmark (`bench/channels-bench.ts`): the users' streams published by a few
 * FFmpeg processes (the tee muxer), the recordings' events read from their event streams, and the
 * store kept small while it runs.
 */
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { recordingRedisKeys } from '@recfleet/contract';
import { ManagedProcess } from '@recfleet/embedded';
import type { Redis } from 'ioredis';
import { sleep, type Cleanup } from './engine-support.js';

/**
 * One FFmpeg process publishing the looped source to many RTMP paths at once: it demuxes the file once
 * (`-re -stream_loop -1`) and the tee muxer writes a copy of every packet to each path
 * (`-c copy`, one FLV muxer per path; `onfail=ignore` keeps the others going when one fails). A handful
 * of these publish hundreds of user streams for the price of a few publishers; their cost is measured
 * apart from the recordings'.
 */
export function startTeePublisher(
  name: string,
  source: string,
  urls: readonly string[],
  cleanup: Cleanup,
): { proc: ManagedProcess; stop: () => Promise<void> } {
  const outputs = urls.map((url) => `[f=flv:onfail=ignore]${url}`).join('|');
  const proc = new ManagedProcess(name, 'ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-nostdin'],
    ...['-re', '-stream_loop', '-1', '-i', source, '-map', '0', '-c', 'copy', '-f', 'tee', outputs],
  ]);
  return { proc, stop: cleanup.process(proc, 3000) };
}

/** One event of a recording's event stream (`<record>:events`, what RecordingClient.follow reads). */
export interface TappedEvent {
  recordingId: string;
  type: string;
  at: number;
  data: Record<string, unknown>;
}

/**
 * Reads the new events of many recordings in one pipelined round trip per poll (XRANGE after the last
 * id seen), so following hundreds of recordings costs the driver one connection and little CPU.
 */
export class EventTap {
  private readonly lastIds = new Map<string, string>();
  private readonly listeners: ((e: TappedEvent) => void)[] = [];
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
  ) {}

  add(recordingId: string): void {
    if (!this.lastIds.has(recordingId)) this.lastIds.set(recordingId, '-');
  }

  onEvent(listener: (e: TappedEvent) => void): void {
    this.listeners.push(listener);
  }

  async poll(): Promise<void> {
    const ids = [...this.lastIds.keys()];
    if (ids.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const id of ids) {
      const last = this.lastIds.get(id)!;
      const key = recordingRedisKeys(this.keyPrefix, id).events;
      pipeline.xrange(key, last === '-' ? '-' : `(${last}`, '+', 'COUNT', 1000);
    }
    const replies = (await pipeline.exec()) ?? [];
    replies.forEach(([err, reply], i) => {
      if (err || !Array.isArray(reply)) return;
      const recordingId = ids[i]!;
      for (const [entryId, flat] of reply as [string, string[]][]) {
        this.lastIds.set(recordingId, entryId);
        const fields: Record<string, string> = {};
        for (let k = 0; k + 1 < flat.length; k += 2) fields[flat[k]!] = flat[k + 1]!;
        let data: Record<string, unknown> = {};
        try {
          data = JSON.parse(fields.data ?? '{}') as Record<string, unknown>;
        } catch {
          // not ours to judge here
        }
        const event = { recordingId, type: fields.type ?? '', at: Number(fields.at), data };
        for (const l of this.listeners) l(event);
      }
    });
  }

  /** Polls every `intervalMs` until stop(). */
  start(intervalMs: number): void {
    this.running ??= (async () => {
      while (!this.stopped) {
        await this.poll().catch(() => undefined);
        await sleep(intervalMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
    await this.poll().catch(() => undefined);
  }
}

/**
 * Deletes finished segments from the local store once they are `olderThanMs` old (long after the
 * uploader verified them), so that a long run of hundreds of streams does not fill the disk. The
 * playlists stay. `isSegment` says which files are segments (s3rver keeps each object in files of
 * its own, `<key>._S3rver_object` and beside it).
 */
export function sweepSegments(
  root: string,
  olderThanMs: number,
  isSegment: (name: string) => boolean = (name) => name.endsWith('.ts'),
): () => Promise<void> {
  let sweeping = true;
  const loop = (async () => {
    while (sweeping) {
      const now = Date.now();
      for (const name of await readdir(root).catch(() => [] as string[])) {
        if (!isSegment(name)) continue;
        const path = join(root, name);
        const info = await stat(path).catch(() => undefined);
        if (info && now - info.mtimeMs > olderThanMs) await unlink(path).catch(() => undefined);
      }
      await sleep(2000);
    }
  })();
  return async () => {
    sweeping = false;
    await loop;
  };
}
