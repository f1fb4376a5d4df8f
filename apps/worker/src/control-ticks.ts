import type { Redis } from 'ioredis';

/**
 * One clock for the control polls of every recording on a worker. Each running recording reads its
 * stop/cancel request (and a channel's subscriptions) every `intervalMs`; with a timer per recording
 * those reads go out one by one: at N recordings, N round trips and 2N system calls per tick on each
 * side (at 400 recordings, 1,600 requests a second, more than everything their segments cost in
 * Redis). On one tick they are issued in the same turn of the event loop, on a connection of their own
 * that auto-pipelines: one write carries them all and one read brings their replies. Only these reads
 * go on it, so nothing else's ordering or script handling changes.
 */
export class ControlTicks {
  private readonly listeners = new Set<() => void>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly intervalMs: number,
    /** The connection the polls read through (auto-pipelining). */
    readonly redis?: Redis,
  ) {}

  /** Calls `listener` on every tick until the returned function is called. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    this.timer ??= setInterval(() => {
      for (const l of this.listeners) l();
    }, this.intervalMs);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  /** Recordings polling on this clock now. */
  get size(): number {
    return this.listeners.size;
  }
}
