import type { Logger } from 'pino';
import type { ClaimOutcome, ClaimRules, RecordingRecord } from './recording-record.js';

export interface OwnershipRules extends ClaimRules {
  /** How often the owner stamps its heartbeat (well under `takeoverAfterMs`). */
  heartbeatMs: number;
}

/**
 * This worker's ownership of one recording: the claim (claimRecording-2.lua) that gives it the epoch
 * fencing all its writes, then a heartbeat every `heartbeatMs` (heartbeat-1.lua) that keeps others from
 * taking the recording over while it records.
 *
 * Only Redis saying so ends an ownership: a heartbeat answered -1 means another worker has claimed the
 * recording (after this one's heartbeat went stale: a partition, a stall), and the owner must stop
 * writing at once. A heartbeat that gets no answer (Redis restarting, hung, failing over, or this host
 * cut off) proves nothing either way — during an outage of Redis nobody can claim anything — so the
 * owner goes on recording, and the heartbeat waiting in flight tells it the truth when Redis answers.
 * One heartbeat is in flight at a time, so an outage does not queue up a backlog of them.
 */
export class RecordingOwnership {
  private claimedEpoch: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private onLost: ((reason: string) => void) | undefined;

  constructor(
    private readonly record: RecordingRecord,
    readonly rules: OwnershipRules,
    private readonly log: Logger,
  ) {}

  /** The epoch of this worker's claim, once claimed. */
  get epoch(): number | undefined {
    return this.claimedEpoch;
  }

  /** Tries to claim the recording; on success this worker is its owner, with a new epoch. */
  async claim(): Promise<ClaimOutcome> {
    const outcome = await this.record.claim(this.rules);
    if (outcome.type === 'claimed') this.claimedEpoch = outcome.epoch;
    return outcome;
  }

  /** Heartbeats until `release`; `onLost` is told once if another worker has claimed the recording. */
  keepAlive(onLost: (reason: string) => void): void {
    if (this.claimedEpoch === undefined) throw new Error('keepAlive before a claim');
    this.onLost = onLost;
    this.timer ??= setInterval(() => this.beat(), this.rules.heartbeatMs);
  }

  private beat(): void {
    const epoch = this.claimedEpoch;
    if (this.inFlight || epoch === undefined) return;
    this.inFlight = this.record
      .heartbeat(epoch, this.rules.identity)
      .then(
        (held) => {
          if (held || !this.timer) return;
          this.stopBeating();
          this.onLost?.(`another worker has claimed the recording (epoch ${epoch} is no longer its owner)`);
        },
        (err: unknown) => this.log.warn({ err }, 'heartbeat failed'),
      )
      .finally(() => {
        this.inFlight = undefined;
      });
  }

  private stopBeating(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops heartbeating, after the heartbeat in flight (if any) has been answered. Safe to call twice. */
  async release(): Promise<void> {
    this.stopBeating();
    await this.inFlight;
  }
}
