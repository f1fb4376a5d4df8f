import { fleetHostsKey } from '@recfleet/contract';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { FleetClock } from './fleet-clock.js';

/** How often a worker refreshes its entry, and after how long without one it no longer counts. */
const REFRESH_MS = 5000;
const LIVE_MS = 20_000;

interface HostEntry {
  host: string;
  profiles: string[];
  /** The fleet clock's time of the refresh (Redis TIME: hosts' own clocks never matter). */
  at: number;
}

/**
 * The fleet's live worker processes and the storage profiles each has (hash fleetHostsKey). A host that
 * takes a job whose profile it lacks asks this whether another live host has it: then it leaves the job
 * to that host; when none has, the job cannot run anywhere and fails with STORAGE_PROFILE_UNKNOWN.
 */
export class FleetHosts {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly self: { identity: string; host: string; profiles: string[] },
    private readonly clock: FleetClock,
    private readonly log: Logger,
  ) {}

  /** Registers this process now, then keeps its entry fresh. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(
      () => void this.refresh().catch((err: unknown) => this.log.debug({ err }, 'host entry not refreshed')),
      REFRESH_MS,
    );
    this.timer.unref();
  }

  private async refresh(): Promise<void> {
    const entry: HostEntry = { host: this.self.host, profiles: this.self.profiles, at: this.clock.now() };
    await this.redis.hset(fleetHostsKey(this.keyPrefix), this.self.identity, JSON.stringify(entry));
  }

  /** Whether another live worker process has the storage profile `name`. */
  async anotherHas(name: string): Promise<boolean> {
    return (await this.live()).some((e) => e.profiles.includes(name));
  }

  /** Whether a live worker process runs on another host (where a standby may record). */
  async anotherHostLive(): Promise<boolean> {
    return (await this.live()).some((e) => e.host !== this.self.host);
  }

  /** The other live worker processes' entries; long-gone ones are pruned. */
  private async live(): Promise<HostEntry[]> {
    const now = this.clock.now();
    const entries = await this.redis.hgetall(fleetHostsKey(this.keyPrefix));
    const stale: string[] = [];
    const found: HostEntry[] = [];
    for (const [identity, json] of Object.entries(entries)) {
      if (identity === this.self.identity) continue;
      let entry: HostEntry | undefined;
      try {
        entry = JSON.parse(json) as HostEntry;
      } catch {
        entry = undefined;
      }
      if (!entry || !(now - entry.at <= LIVE_MS)) {
        // Long gone (its process ended without saying so): pruned, so the hash does not grow forever.
        if (!entry || now - entry.at > LIVE_MS * 30) stale.push(identity);
        continue;
      }
      found.push(entry);
    }
    if (stale.length > 0) await this.redis.hdel(fleetHostsKey(this.keyPrefix), ...stale);
    return found;
  }

  /** Removes this process's entry (at shutdown). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.redis.hdel(fleetHostsKey(this.keyPrefix), this.self.identity);
  }
}
