import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordingRedisKeys, type RecordingEvent } from '@recfleet/contract';
import { ChannelServer, TestPublisher, type ManagedProcess } from '@recfleet/embedded';
import { RecordingClient } from '@recfleet/client';
import type { IndexedSegment } from '@recfleet/storage';
import { Redis } from 'ioredis';
import { decodePlaylist } from './media-check.js';
import { startTestRedis, type TestRedis } from './test-redis.js';
import { startWorkerProcess } from './worker-process.js';

/** A recording's events as they come, and the end of following it. */
export interface FollowedRecording {
  events: RecordingEvent[];
  /** Resolves after its first terminal event. */
  done: Promise<void>;
}

/** Collects a recording's events in the background until its terminal event. */
export function followRecording(client: RecordingClient, recordingId: string): FollowedRecording {
  const events: RecordingEvent[] = [];
  const done = (async () => {
    for await (const e of client.follow(recordingId)) events.push(e);
  })();
  return { events, done };
}

/**
 * A small fleet on one machine for fault tests: a private Redis, a live RTMP channel, local storage, a
 * producer client, and any number of real worker processes.
 */
export class FleetFixture {
  readonly workers: ManagedProcess[] = [];
  private constructor(
    readonly redis: TestRedis,
    readonly channels: ChannelServer,
    readonly publisher: TestPublisher,
    readonly client: RecordingClient,
    readonly dir: string,
    readonly app: string,
    readonly channel: string,
  ) {}

  static async start(
    options: { appendOnly?: boolean; app?: string; channel?: string } = {},
  ): Promise<FleetFixture> {
    const app = options.app ?? 'fleet';
    const channel = options.channel ?? 'room';
    const dir = await mkdtemp(join(tmpdir(), 'recfleet-fleet-'));
    const redis = await startTestRedis({ appendOnly: options.appendOnly ?? false });
    const channels = await ChannelServer.start();
    const publisher = TestPublisher.start({
      url: channels.rtmpUrl(app, channel),
      width: 480,
      height: 270,
      frameRate: 25,
      gop: 25,
    });
    await channels.waitForPublish(app, channel);
    const client = new RecordingClient({ redisUrl: redis.url });
    return new FleetFixture(redis, channels, publisher, client, dir, app, channel);
  }

  /** The fixture's live channel as a single stream (what its recordings record). */
  get sourceUrl(): string {
    return this.channels.rtmpUrl(this.app, this.channel);
  }

  get storageRoot(): string {
    return join(this.dir, 'storage');
  }

  async worker(
    name: string,
    extra: Record<string, unknown> = {},
    redisUrl = this.redis.url,
  ): Promise<ManagedProcess & { httpPort: number | null }> {
    const w = await startWorkerProcess({
      redisUrl,
      storageProfiles: { local: { type: 'local', root: this.storageRoot } },
      spoolDir: join(this.dir, `spool-${name}`),
      extra: { lockSeconds: 4, stalledCheckSeconds: 1, shutdownGraceSeconds: 2, ...extra },
    });
    this.workers.push(w);
    return w;
  }

  /** The next recorder uid: each recording of the fixture gets its own (one active per app/channel/uid). */
  private nextUid = 1;

  start(
    recordingId?: string,
    extra: { uid?: number; callbackUrl?: string } = {},
  ): Promise<{ recordingId: string; created: boolean }> {
    return this.client.start({
      ...(recordingId ? { recordingId } : {}),
      appId: this.app,
      channel: this.channel,
      uid: extra.uid ?? this.nextUid++,
      sourceUrl: this.sourceUrl,
      recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 10 },
      storage: { profile: 'local' },
      ...(extra.callbackUrl ? { callbackUrl: extra.callbackUrl } : {}),
    });
  }

  /** Collects a recording's events in the background until its terminal event. */
  follow(recordingId: string): FollowedRecording {
    return followRecording(this.client, recordingId);
  }

  async index(recordingId: string): Promise<IndexedSegment[]> {
    const r = new Redis(this.redis.url);
    try {
      const keys = recordingRedisKeys('recfleet', recordingId);
      return (await r.hvals(keys.segments))
        .map((v) => JSON.parse(v) as IndexedSegment)
        .sort((a, b) => a.sequence - b.sequence);
    } finally {
      r.disconnect();
    }
  }

  /** The final playlist's segment names, and ffmpeg's verdict on the whole recording. */
  async verify(
    recordingId: string,
  ): Promise<{ listed: string[]; files: string[]; errors: string; ended: boolean }> {
    const name = `${recordingId}_${this.channel.replace(/[^A-Za-z0-9-]/g, (c) => `~${c.charCodeAt(0).toString(16).toUpperCase()}`)}.m3u8`;
    const playlistPath = join(this.storageRoot, name);
    const text = await readFile(playlistPath, 'utf8');
    const files = (await readdir(this.storageRoot))
      .filter((f) => f.startsWith(recordingId) && f.endsWith('.ts'))
      .sort();
    return {
      listed: text.split('\n').filter((l) => l.endsWith('.ts')),
      files,
      errors: decodePlaylist(playlistPath).errors,
      ended: text.trim().endsWith('#EXT-X-ENDLIST'),
    };
  }

  async stop(): Promise<void> {
    await this.client.close();
    for (const w of this.workers) await w.stop('SIGTERM', 5000);
    await this.publisher.stop();
    await this.channels.stop();
    await this.redis.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
