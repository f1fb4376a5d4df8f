import type { Job } from 'bullmq';
import type { Logger } from 'pino';

/**
 * A job's progress (what Bull Board shows), written one at a time with only the newest waiting: a
 * snapshot of totals needs no history, and while Redis is unreachable snapshots must not pile up.
 */
export class JobProgress {
  private inFlight: Promise<void> | undefined;
  private next: Record<string, unknown> | undefined;

  constructor(
    private readonly job: Job,
    private readonly log: Logger,
  ) {}

  set(progress: Record<string, unknown>): void {
    this.next = progress;
    this.flush();
  }

  /** Resolves once the newest progress set so far is written (or failed). */
  async written(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  private flush(): void {
    if (this.inFlight || !this.next) return;
    const progress = this.next;
    this.next = undefined;
    this.inFlight = this.job
      .updateProgress(progress)
      .catch((err: unknown) => this.log.warn({ err }, 'progress not saved'))
      .finally(() => {
        this.inFlight = undefined;
        this.flush();
      });
  }
}
