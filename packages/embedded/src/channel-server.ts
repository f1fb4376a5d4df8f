import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { channelPath, channelToken, streamPathSign, userStreamName } from '@recfleet/contract';
import type { ChannelServerProcessConfig } from './channel-server-config.js';
import { freePort } from './free-port.js';
import { ManagedProcess } from './managed-process.js';

/** One line of the server's event report (node-media-server's events, as the server saw them). */
export interface ChannelEvent {
  event: 'ready' | 'postPublish' | 'donePublish' | 'prePlay' | 'postPlay' | 'donePlay' | 'timelineOrigin';
  /** `/<app>/<stream name>`, without the query. */
  streamPath?: string;
  /** node-media-server's session id: tells a publisher's leave from a later one's arrival. */
  sessionId?: string;
  /** The server's wall clock when it happened (ms since epoch). */
  at: number;
  protocol?: 'rtmp' | 'flv';
  /**
   * timelineOrigin: the wall-clock time of the publisher's media time 0, as the server sees it (the
   * minimum of arrival − dts over its frames); reported in its first seconds, whenever it improves.
   */
  originMs?: number;
}

export interface ChannelServerOptions {
  /** RTMP port (default: a free one). */
  port?: number;
  /** HTTP port: HTTP-FLV plays and the HTTP API (default: a free one). */
  httpPort?: number;
  /** The sign secret of plays (node-media-server's `auth.secret`); generated when omitted. */
  secret?: string;
  /** The HTTP API's JWT secret (`auth.jwt.secret`); generated when omitted. */
  apiSecret?: string;
  /** Plays need a sign (a channel token); default true. `false`: everyone may play. */
  playAuth?: boolean;
  /** Publishes need a sign too (of the user's own stream path, same secret); default false. */
  publishAuth?: boolean;
  /**
   * The channel token admits to users' streams (installChannelTokenAuth); default true. `false` makes a
   * plain node-media-server, where a channel token opens only the channel's own path.
   */
  channelTokenAuth?: boolean;
}

const ONE_DAY_SECONDS = 86_400;

/**
 * An embedded RTMP channel server (node-media-server) in a child process on free loopback ports: the
 * channel of users. User `uid` of channel `<channel>` in app `<appId>` publishes to
 * `userRtmpUrl(appId, channel, uid)`; plays need a channel token (`channelToken(appId, channel)`), which
 * admits to every user's stream of the channel and to the channel's own path; the HTTP API at `apiUrl`
 * (bearer JWT signed with `apiSecret`) lists who publishes. A left publisher's path goes at once (no
 * reconnect grace), so a leave shows as soon as the publisher's socket closes.
 *
 * Single-stream use stays as it was: a publisher pushes to `rtmpUrl(app, channel)` and a recorder pulls
 * the same URL, which carries a day-long channel token when plays need one.
 */
export class ChannelServer {
  private readonly listeners = new Set<(e: ChannelEvent) => void>();
  /** Stream path → the session publishing it now. */
  private readonly publishers = new Map<string, { sessionId: string; at: number }>();

  private constructor(
    readonly port: number,
    readonly httpPort: number,
    readonly secret: string,
    readonly apiSecret: string,
    readonly playAuth: boolean,
    readonly publishAuth: boolean,
    private readonly proc: ManagedProcess,
    private readonly dataDir: string,
  ) {
    let buffer = '';
    proc.child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        let event: ChannelEvent;
        try {
          event = JSON.parse(line) as ChannelEvent;
        } catch {
          continue; // not one of our lines
        }
        this.track(event);
        for (const l of [...this.listeners]) l(event);
      }
    });
  }

  static async start(options: ChannelServerOptions = {}): Promise<ChannelServer> {
    const port = options.port ?? (await freePort());
    const httpPort = options.httpPort ?? (await freePort());
    const dataDir = await mkdtemp(join(tmpdir(), 'recfleet-nms-'));
    const config: ChannelServerProcessConfig = {
      rtmpPort: port,
      httpPort,
      dataDir,
      secret: options.secret ?? randomBytes(16).toString('hex'),
      apiSecret: options.apiSecret ?? randomBytes(32).toString('hex'),
      playAuth: options.playAuth ?? true,
      publishAuth: options.publishAuth ?? false,
      channelTokenAuth: options.channelTokenAuth ?? true,
    };
    const main = childMainPath();
    const proc = new ManagedProcess('channel server', process.execPath, [main], {
      env: { ...process.env, RECFLEET_CHANNEL_SERVER: JSON.stringify(config) },
    });
    const server = new ChannelServer(
      port,
      httpPort,
      config.secret,
      config.apiSecret,
      config.playAuth,
      config.publishAuth,
      proc,
      dataDir,
    );
    try {
      await proc.waitForLine((l) => l.includes('"event":"ready"'), 15_000);
      await server.waitForHttp(10_000);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  /** `rtmp://127.0.0.1:<port>`: where `/<app>/<stream name>` paths are published and played. */
  get rtmpBaseUrl(): string {
    return `rtmp://127.0.0.1:${this.port}`;
  }

  /** The HTTP base: the API under `/api/v1`, HTTP-FLV plays at `/<app>/<stream name>.flv`. */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  /**
   * The URL a single stream's publisher pushes to and its recorder pulls from. RTMP servers cannot take
   * arbitrary channel names in a stream name (node-media-server drops `%`-escapes), so the channel is
   * written as a stream name (`encodeChannelAsStreamName`). When plays need a sign, the URL carries a
   * day-long channel token (publishers are not asked for it; node-media-server ignores it there).
   */
  rtmpUrl(app: string, channel: string): string {
    const base = `${this.rtmpBaseUrl}${channelPath(app, channel)}`;
    return this.playAuth ? `${base}?sign=${this.channelToken(app, channel, ONE_DAY_SECONDS)}` : base;
  }

  /** `/<appId>/<userStreamName(channel, uid)>`: the path user `uid` of the channel publishes on. */
  userStreamPath(appId: string, channel: string, uid: number): string {
    return `/${appId}/${userStreamName(channel, uid)}`;
  }

  /** Where user `uid` of (appId, channel) publishes (signed for its own path when publishes need it). */
  userRtmpUrl(appId: string, channel: string, uid: number): string {
    const path = this.userStreamPath(appId, channel, uid);
    if (!this.publishAuth) return `${this.rtmpBaseUrl}${path}`;
    const sign = streamPathSign(path, this.secret, new Date(Date.now() + ONE_DAY_SECONDS * 1000));
    return `${this.rtmpBaseUrl}${path}?sign=${sign}`;
  }

  /** A channel token for (appId, channel) valid for `ttlSeconds`: what a recording job's `token` is. */
  channelToken(appId: string, channel: string, ttlSeconds = 3600): string {
    return channelToken(appId, channel, this.secret, new Date(Date.now() + ttlSeconds * 1000));
  }

  /** Whether someone publishes on `streamPath` now (a left publisher is not publishing). */
  isPublishing(streamPath: string): boolean {
    return this.publishers.has(streamPath);
  }

  /** Resolves once a publisher is live on `/<app>/<channel>`. */
  async waitForPublish(app: string, channel: string, timeoutMs = 15_000): Promise<void> {
    const path = channelPath(app, channel);
    if (this.isPublishing(path)) return;
    await this.waitForEvent((e) => e.event === 'postPublish' && e.streamPath === path, timeoutMs);
  }

  /** The first event (from now on) that `predicate` accepts; rejects after `timeoutMs`. */
  waitForEvent(predicate: (e: ChannelEvent) => boolean, timeoutMs = 15_000): Promise<ChannelEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`the channel server reported no such event within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (e: ChannelEvent): void => {
        if (!predicate(e)) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(e);
      };
      this.listeners.add(listener);
    });
  }

  onEvent(listener: (e: ChannelEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.listeners.clear();
    await this.proc.stop('SIGTERM', 3000);
    await rm(this.dataDir, { recursive: true, force: true });
  }

  private track(e: ChannelEvent): void {
    if (!e.streamPath || !e.sessionId) return;
    if (e.event === 'postPublish') this.publishers.set(e.streamPath, { sessionId: e.sessionId, at: e.at });
    // Only the leave of the publisher we know: a path taken over since then stays published.
    if (e.event === 'donePublish' && this.publishers.get(e.streamPath)?.sessionId === e.sessionId) {
      this.publishers.delete(e.streamPath);
    }
  }

  /** node-media-server reports ready before its listeners are bound; its unauthenticated /health answers once they are. */
  private async waitForHttp(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const res = await fetch(`${this.apiUrl}/api/v1/health`, { signal: AbortSignal.timeout(1000) });
        await res.body?.cancel();
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        throw new Error(`channel server HTTP API not up within ${timeoutMs} ms:\n${this.proc.output()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The child's compiled entry point: beside this module, or in dist/ when this runs from its source (tests). */
function childMainPath(): string {
  const beside = new URL('./channel-server-main.js', import.meta.url).pathname;
  return existsSync(beside) ? beside : new URL('../dist/channel-server-main.js', import.meta.url).pathname;
}
