import { expect } from 'vitest';
import { scaled, type ChannelFleet, type FleetWorker } from './channel-fleet.js';

/** Short heartbeats and takeover, so that a lost owner is taken over within a few seconds. */
export const STANDBY_OWNERSHIP = { heartbeatSeconds: 0.5, takeoverAfterSeconds: 2, httpPort: 0 } as const;

/**
 * The worker hosts of a redundancy test on a ChannelFleet: one worker process per host, each with its
 * own HOSTNAME and spool (a restarted host keeps its spool, and its spool recovery runs).
 */
export class StandbyHosts {
  private readonly byHost = new Map<string, FleetWorker>();

  constructor(
    private readonly fleet: ChannelFleet,
    /** Names the test in what `diagnose` prints. */
    private readonly label: string,
  ) {}

  /** Starts host `host`'s worker process (again, after a kill). */
  async start(host: string): Promise<void> {
    this.byHost.set(host, await this.fleet.worker(host, STANDBY_OWNERSHIP, host, host));
  }

  get(host: string): FleetWorker {
    const w = this.byHost.get(host);
    if (!w) throw new Error(`no worker on ${host}`);
    return w;
  }

  /** Whether the record names a standby on another host than its owner, heartbeating within 5 s. */
  async standbyLive(recordingId: string): Promise<boolean> {
    const r = await this.fleet.record(recordingId);
    const live = Date.now() - Number(r.standbyHeartbeatAt ?? 0) < 5000;
    return Boolean(r.standby && live && r.standbyHost !== r.ownerHost);
  }

  /** The standby host's /metrics text. */
  async standbyMetrics(recordingId: string): Promise<string> {
    const host = (await this.fleet.record(recordingId)).standbyHost!;
    return (await fetch(`http://127.0.0.1:${this.get(host).httpPort}/metrics`)).text();
  }

  /**
   * Waits until `ready` (printing what each worker said when it does not come), checks that the
   * standby's host counts its standby on /metrics, and loses the owner by `fault` — SIGTERM: a graceful
   * hand-off at its next cut, to the standby, which claims first. Returns the record before the fault
   * and when it was made.
   */
  async loseOwner(
    recordingId: string,
    fault: 'kill -9' | 'SIGTERM',
    ready: () => Promise<boolean>,
  ): Promise<{ before: Record<string, string>; at: number }> {
    try {
      await expect.poll(ready, { timeout: scaled(40_000), interval: 200 }).toBe(true);
    } catch (err) {
      await this.diagnose(recordingId);
      throw err;
    }
    const before = await this.fleet.record(recordingId);
    const owner = this.get(before.ownerHost!);
    // The standby's cost shows on its host's /metrics.
    expect(await this.standbyMetrics(recordingId)).toMatch(/^recfleet_standby_recordings 1$/m);
    const at = Date.now();
    if (fault === 'SIGTERM') await owner.stop('SIGTERM', 20_000);
    else await owner.kill();
    return { before, at };
  }

  /** What the record and each worker said about the recording, when a wait fails. */
  async diagnose(recordingId: string): Promise<void> {
    const record = await this.fleet.record(recordingId);
    process.stderr.write(`${this.label}: record ${JSON.stringify(record)}\n`);
    for (const [host, w] of this.byHost) {
      const lines = w
        .log()
        .split('\n')
        .filter((l) => l.includes(recordingId) || l.includes('standby'));
      process.stderr.write(
        `${this.label}: ${host} (running ${w.running}):\n${lines.slice(-30).join('\n')}\n`,
      );
    }
  }
}
