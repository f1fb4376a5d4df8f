import type { ChannelEvent, ChannelServer } from './channel-server.js';
import { TestPublisher, type TestPublisherOptions } from './test-publisher.js';

export interface ChannelUserPublisherOptions extends Omit<TestPublisherOptions, 'url' | 'format'> {
  server: ChannelServer;
  appId: string;
  channel: string;
  uid: number;
  /** How long to wait for the server to see the publish (default 15 s). */
  timeoutMs?: number;
}

/**
 * User `uid` of a channel on an embedded ChannelServer, publishing a test pattern: what a participant
 * of a call is to the recorder. It records, on the server's clock (the same host's wall clock in tests),
 * when the server saw it start and stop publishing and where its media timeline starts, so a test can
 * compare a recording's join/leave times and program date-times with the publisher's real timing.
 */
export class ChannelUserPublisher {
  private origin: number | undefined;
  private left: number | undefined;
  private readonly leave: Promise<number>;
  private readonly off: () => void;

  private constructor(
    readonly server: ChannelServer,
    readonly uid: number,
    readonly streamPath: string,
    private readonly publisher: TestPublisher,
    readonly sessionId: string,
    /** The server's postPublish (ms since epoch): the user joined the channel. */
    readonly publishedAt: number,
    earlier: ChannelEvent[],
  ) {
    let onLeave: (at: number) => void = () => {};
    this.leave = new Promise((resolve) => (onLeave = resolve));
    const onEvent = (e: ChannelEvent): void => {
      if (e.sessionId !== sessionId) return;
      if (e.event === 'timelineOrigin' && e.originMs !== undefined) {
        this.origin = Math.min(this.origin ?? Infinity, e.originMs);
      }
      if (e.event === 'donePublish' && this.left === undefined) {
        this.left = e.at;
        onLeave(e.at);
      }
    };
    earlier.forEach(onEvent);
    this.off = server.onEvent(onEvent);
  }

  /** Starts the publisher and resolves once the server reports its publish. */
  static async start(options: ChannelUserPublisherOptions): Promise<ChannelUserPublisher> {
    const { server, appId, channel, uid, timeoutMs = 15_000, ...media } = options;
    const streamPath = server.userStreamPath(appId, channel, uid);
    // The server may report more about the session before start() has built the object: keep it all.
    const seen: ChannelEvent[] = [];
    const offSeen = server.onEvent((e) => {
      if (e.streamPath === streamPath) seen.push(e);
    });
    const publisher = TestPublisher.start({ ...media, url: server.userRtmpUrl(appId, channel, uid) });
    try {
      const deadline = Date.now() + timeoutMs;
      let published: ChannelEvent | undefined;
      while (!(published = seen.find((e) => e.event === 'postPublish'))) {
        if (!publisher.running) {
          throw new Error(`the publisher of ${streamPath} exited before publishing:\n${publisher.output()}`);
        }
        if (Date.now() > deadline) {
          throw new Error(
            `the server saw no publish on ${streamPath} within ${timeoutMs} ms:\n${publisher.output()}`,
          );
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      const sessionId = published.sessionId!;
      const later = seen.filter((e) => e.sessionId === sessionId);
      return new ChannelUserPublisher(server, uid, streamPath, publisher, sessionId, published.at, later);
    } catch (err) {
      await publisher.stop();
      throw err;
    } finally {
      offSeen();
    }
  }

  /**
   * The wall-clock time of this publisher's media time 0 as the server saw it (the minimum of arrival −
   * dts over its first seconds of frames): the reference a recording's program date-times are compared
   * with. Undefined until its first frame arrived.
   */
  get timelineOrigin(): number | undefined {
    return this.origin;
  }

  /**
   * With `clock`: when the publisher's frame 0 was made on the wall clock, by its own clock
   * (TestPublisher.startedAt): the publisher's real timing. timelineOrigin, the server's view (arrival −
   * timestamp), is later by the encoder's latency and the stream's timestamp offset (20–50 ms for a
   * 320x180 test pattern here).
   */
  startedAt(untilSeconds?: number): number | undefined {
    return this.publisher.startedAt(untilSeconds);
  }

  /** When the server saw it leave (its donePublish); undefined while it publishes. */
  get leftAt(): number | undefined {
    return this.left;
  }

  get running(): boolean {
    return this.publisher.running;
  }

  output(): string {
    return this.publisher.output();
  }

  /** Disconnects, as the user leaving the channel; resolves with the server's donePublish time. */
  async stop(timeoutMs = 5000): Promise<number> {
    await this.publisher.stop();
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.leave,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new Error(`the server reported no leave of ${this.streamPath} within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.off();
    }
  }
}
