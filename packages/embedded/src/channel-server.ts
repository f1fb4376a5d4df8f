import { encodeChannelAsStreamName } from '@recfleet/contract';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { ManagedProcess } from './managed-process.js';

export interface ChannelEvent {
  event: 'ready' | 'postPublish' | 'donePublish' | 'postPlay' | 'donePlay';
  streamPath?: string;
}

/**
 * An embedded RTMP channel server (node-media-server) in a child process on a free loopback port.
 * A channel `<app>/<channel>` is live while a publisher pushes to `rtmpUrl(app, channel)`.
 */
export class ChannelServer {
  private readonly listeners = new Set<(e: ChannelEvent) => void>();
  private readonly publishing = new Set<string>();

  private constructor(
    readonly port: number,
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
        try {
          const event = JSON.parse(line) as ChannelEvent;
          if (event.event === 'postPublish' && event.streamPath) this.publishing.add(event.streamPath);
          if (event.event === 'donePublish' && event.streamPath) this.publishing.delete(event.streamPath);
          for (const l of this.listeners) l(event);
        } catch {
          // not one of our lines
        }
      }
    });
  }

  static async start(options: { port?: number } = {}): Promise<ChannelServer> {
    const port = options.port ?? (await freePort());
    const dataDir = await mkdtemp(join(tmpdir(), 'recfleet-nms-'));
    const main = new URL('./channel-server-main.js', import.meta.url).pathname;
    const proc = new ManagedProcess('channel server', process.execPath, [main, String(port), dataDir]);
    const server = new ChannelServer(port, proc, dataDir);
    await proc.waitForLine((l) => l.includes('"event":"ready"'), 15_000);
    return server;
  }

  /**
   * The URL a publisher pushes to and a recorder pulls from. RTMP servers cannot take arbitrary channel
   * names in a stream name (node-media-server drops `%`-escapes), so the channel is written as a
   * stream name (`encodeChannelAsStreamName`), as the worker's default `channelUrlTemplate` does.
   */
  rtmpUrl(app: string, channel: string): string {
    return `rtmp://127.0.0.1:${this.port}/${app}/${encodeChannelAsStreamName(channel)}`;
  }

  /** Resolves once a publisher is live on `/<app>/<channel>`. */
  waitForPublish(app: string, channel: string, timeoutMs = 15_000): Promise<void> {
    const path = `/${app}/${encodeChannelAsStreamName(channel)}`;
    if (this.publishing.has(path)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`no publisher on ${path} within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (e: ChannelEvent): void => {
        if (e.event === 'postPublish' && e.streamPath === path) {
          clearTimeout(timer);
          this.listeners.delete(listener);
          resolve();
        }
      };
      this.listeners.add(listener);
    });
  }

  onEvent(listener: (e: ChannelEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    await this.proc.stop('SIGTERM', 3000);
    await rm(this.dataDir, { recursive: true, force: true });
  }
}
