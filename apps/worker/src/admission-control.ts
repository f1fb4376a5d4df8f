import { cpus, totalmem } from 'node:os';

export interface AdmissionConfig {
  /** Cores this host gives to recordings (default: 80 % of its cores). */
  cpuBudgetCores?: number;
  /** Memory this host gives to recordings, in MB (default: 70 % of its RAM). */
  memoryBudgetMb?: number;
  /** Estimated cost of one live stream (defaults from docs/benchmarks.md, with head-room). */
  cpuCoresPerStream: number;
  memoryMbPerStream: number;
}

export interface AdmissionSnapshot {
  /** Streams this host may record by the estimates. */
  capacity: number;
  /** Streams reserved by the recordings it runs (a channel recording reserves its maxUsers). */
  streams: number;
  /** Recordings it runs. */
  recordings: number;
  /** Measured CPU use of this process, in cores, over the last interval. */
  cpuCores: number;
  rssMb: number;
  /** True when measured use is over budget: no new recordings until it falls. */
  saturated: boolean;
  /** What the BullMQ worker's concurrency is set to (how many jobs it may hold). */
  concurrency: number;
}

/** The first wait after a refused job, doubled for every refusal in a row up to the most. */
const REFUSAL_BACKOFF_MS = { first: 500, most: 8000 };

/**
 * Decides which recordings this host takes, by streams: a single-stream recording costs one, a channel
 * recording reserves as many as it may record at once (its maxUsers), so users joining a recording can
 * never take the host over its budget. The budget is the host's CPU and memory divided by a stream's
 * estimated cost; `maxRecordings` caps the recordings. A job that does not fit is put back for another
 * host — unless the host runs nothing at all (a recording larger than a whole host runs alone rather
 * than never) — and after a refusal the host takes no job for a while, doubling, so that hosts at their
 * budget do not take the same job back and forth. Measured use is checked too: a host over budget
 * (estimates too low, a heavy source) takes nothing until it is back under.
 */
export class AdmissionControl {
  readonly capacity: number;
  private readonly cpuBudget: number;
  private readonly memoryBudget: number;
  private readonly reserved = new Map<string, number>();
  private readonly tickets = new Set<string>();
  private lastCpu = process.cpuUsage();
  private lastAt = Date.now();
  private saturated = false;
  private cpuCores = 0;
  private rssMb = 0;
  private refusedUntil = 0;
  private backoffMs = REFUSAL_BACKOFF_MS.first;

  constructor(
    config: AdmissionConfig,
    private readonly maxRecordings: number,
  ) {
    this.cpuBudget = config.cpuBudgetCores ?? cpus().length * 0.8;
    this.memoryBudget = config.memoryBudgetMb ?? (totalmem() / 1024 / 1024) * 0.7;
    this.capacity = Math.max(
      1,
      Math.min(
        Math.floor(this.cpuBudget / config.cpuCoresPerStream),
        Math.floor(this.memoryBudget / config.memoryMbPerStream),
      ),
    );
  }

  /** Streams reserved now. */
  get streams(): number {
    let sum = 0;
    for (const n of this.reserved.values()) sum += n;
    return sum;
  }

  /**
   * Reserves `streams` for a job if they fit (true), else refuses it (false) and backs off. An empty
   * host takes any job.
   */
  admit(jobId: string, streams: number): boolean {
    if (!this.fits(streams)) {
      this.refuse();
      return false;
    }
    this.reserved.set(jobId, streams);
    this.backoffMs = REFUSAL_BACKOFF_MS.first;
    return true;
  }

  /**
   * Takes no job for `ms` (at least), without counting it as a refusal of room: a job this host can
   * never run (a storage profile it lacks) was put back for another host, which should take it first.
   */
  pause(ms: number): void {
    this.refusedUntil = Math.max(this.refusedUntil, Date.now() + ms);
  }

  /** How long this host still takes no job after its last refusal, ms. */
  get refusalWaitMs(): number {
    return Math.max(0, this.refusedUntil - Date.now());
  }

  /**
   * Reserves `streams` for a job if they fit (a ticket holder about to claim its recording), without the
   * refusal's back-off: a full host hands the ticket back instead.
   */
  tryReserve(jobId: string, streams: number): boolean {
    if (!this.fits(streams)) return false;
    this.reserved.set(jobId, streams);
    return true;
  }

  /** Whether `streams` more would fit now (without reserving them). */
  fits(streams: number): boolean {
    return (
      this.reserved.size === 0 ||
      (this.reserved.size < this.maxRecordings && this.streams + streams <= this.capacity && !this.saturated)
    );
  }

  /**
   * A job was put back for another host (it did not fit, or needs a storage profile this host lacks):
   * take no job for a while, doubling while refusals continue. Returns how long.
   */
  refuse(): number {
    const wait = this.backoffMs;
    this.refusedUntil = Date.now() + wait;
    this.backoffMs = Math.min(this.backoffMs * 2, REFUSAL_BACKOFF_MS.most);
    return wait;
  }

  /**
   * A job held as a ticket (its recording runs on another worker): it reserves no stream, but holds
   * one of the BullMQ worker's slots.
   */
  holdTicket(jobId: string): void {
    this.tickets.add(jobId);
  }

  releaseTicket(jobId: string): void {
    this.tickets.delete(jobId);
  }

  /** Frees a job's streams (it ended here, failed, or went back to the queue). */
  release(jobId: string): void {
    if (this.reserved.delete(jobId)) {
      // Room again: the next job is worth a look at once.
      this.refusedUntil = 0;
      this.backoffMs = REFUSAL_BACKOFF_MS.first;
    }
  }

  /** Samples this process. */
  sample(): void {
    const now = Date.now();
    const cpu = process.cpuUsage(this.lastCpu);
    const elapsedMs = Math.max(1, now - this.lastAt);
    this.lastCpu = process.cpuUsage();
    this.lastAt = now;
    this.cpuCores = (cpu.user + cpu.system) / 1000 / elapsedMs;
    this.rssMb = process.memoryUsage().rss / 1024 / 1024;
    this.saturated = this.cpuCores > this.cpuBudget || this.rssMb > this.memoryBudget;
  }

  /**
   * How many jobs the BullMQ worker may hold now: those it runs and holds as tickets, plus as many
   * single streams as still fit; none more while over budget or backing off after a refusal (BullMQ needs at least 1: an empty
   * host then takes one job, which it may always run).
   */
  concurrency(): number {
    const running = this.reserved.size;
    const held = running + this.tickets.size;
    if (this.saturated || Date.now() < this.refusedUntil) return Math.max(1, held);
    const room = Math.max(0, Math.min(this.maxRecordings - running, this.capacity - this.streams));
    return Math.max(1, held + room);
  }

  snapshot(): AdmissionSnapshot {
    return {
      capacity: this.capacity,
      streams: this.streams,
      recordings: this.reserved.size,
      cpuCores: this.cpuCores,
      rssMb: this.rssMb,
      saturated: this.saturated,
      concurrency: this.concurrency(),
    };
  }
}
