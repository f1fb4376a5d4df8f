import { fleetClockKey, runScript } from '@recfleet/contract';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/**
 * The longest gap between two ticks of the fleet clock that is not an outage. Every worker ticks every
 * second, so a gap of three means nobody reached Redis for that long: Redis restarted, hung (SIGSTOP) or
 * failed over — or the whole fleet was down.
 */
export const OUTAGE_GAP_MS = 3000;

const TICK_MS = 1000;

/**
 * This worker's tick of the fleet clock (fleetTick-1.lua), every second, and what it shows: whether
 * Redis answers (a tick that has not come back for OUTAGE_GAP_MS), and Redis's time. One tick in flight
 * at a time: while Redis is unreachable ticks are not queued up behind each other.
 *
 * Nothing stops when Redis is unreachable: recordings go on into the spool, and what needs Redis waits
 * in order (see EventOutbox, RecordingTrack's reservations). The clock only tells it, once per outage.
 */
export class FleetClock {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private lastAnswerAt = Date.now();
  /** Redis TIME − Date.now() at the last answer. */
  private offsetMs = 0;
  private unreachableSince: number | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly log: Logger,
  ) {}

  /** Starts ticking; resolves once the first tick is answered (Redis's time is known then). */
  async start(): Promise<void> {
    this.timer ??= setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
    this.tick();
    await this.inFlight;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Redis's clock now, as of the last answer (ms). */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  /** Whether Redis has answered a tick within OUTAGE_GAP_MS. */
  get reachable(): boolean {
    return Date.now() - this.lastAnswerAt <= OUTAGE_GAP_MS;
  }

  private tick(): void {
    if (this.inFlight) {
      if (this.unreachableSince === undefined && !this.reachable) {
        this.unreachableSince = this.lastAnswerAt;
        this.log.warn(
          { silentMs: Date.now() - this.lastAnswerAt },
          'Redis unreachable: recordings go on into the spool; reservations, events and uploads wait',
        );
      }
      return;
    }
    this.inFlight = runScript(this.redis, 'fleetTick', [fleetClockKey(this.keyPrefix)], [OUTAGE_GAP_MS])
      .then(
        (reply) => {
          const [now] = reply as [number, number];
          this.lastAnswerAt = Date.now();
          this.offsetMs = Number(now) - this.lastAnswerAt;
          if (this.unreachableSince !== undefined) {
            this.log.info(
              { outageMs: this.lastAnswerAt - this.unreachableSince },
              'Redis reachable again: delivering what waited, in order',
            );
            this.unreachableSince = undefined;
          }
        },
        (err: unknown) => this.log.debug({ err }, 'fleet clock tick failed'),
      )
      .finally(() => {
        this.inFlight = undefined;
      });
  }
}
