import { cpus, totalmem } from 'node:os';

export interface AdmissionConfig {
  /** Cores this host gives to recordings (default: 80 % of its cores). */
  cpuBudgetCores?: number;
  /** Memory this host gives to recordings, in MB (default: 70 % of its RAM). */
  memoryBudgetMb?: number;
  /** Estimated cost of one live recording (defaults from docs/benchmarks.md, with head-room). */
  cpuCoresPerRecording: number;
  memoryMbPerRecording: number;
}

export interface AdmissionSnapshot {
  /** Recordings this host may run by the estimates and `maxRecordings`. */
  capacity: number;
  active: number;
  /** Measured CPU use of this process, in cores, over the last interval. */
  cpuCores: number;
  rssMb: number;
  /** True when measured use is over budget: no new recordings until it falls. */
  saturated: boolean;
  /** What the BullMQ worker's concurrency is set to (how many jobs it may hold). */
  concurrency: number;
}

/**
 * Decides how many recordings this host takes. Each recording has a CPU and memory cost estimate;
 * the host's budget divided by it (and `maxRecordings`) caps concurrency, so a full host leaves new
 * jobs in the queue for other hosts. Measured use is checked too: a host over budget (estimates too
 * low, a heavy source) stops taking jobs until it is back under.
 */
export class AdmissionControl {
  readonly capacity: number;
  private readonly cpuBudget: number;
  private readonly memoryBudget: number;
  private lastCpu = process.cpuUsage();
  private lastAt = Date.now();
  private snapshotValue: AdmissionSnapshot;

  constructor(config: AdmissionConfig, maxRecordings: number) {
    this.cpuBudget = config.cpuBudgetCores ?? cpus().length * 0.8;
    this.memoryBudget = config.memoryBudgetMb ?? (totalmem() / 1024 / 1024) * 0.7;
    this.capacity = Math.max(
      1,
      Math.min(
        maxRecordings,
        Math.floor(this.cpuBudget / config.cpuCoresPerRecording),
        Math.floor(this.memoryBudget / config.memoryMbPerRecording),
      ),
    );
    this.snapshotValue = {
      capacity: this.capacity,
      active: 0,
      cpuCores: 0,
      rssMb: 0,
      saturated: false,
      concurrency: this.capacity,
    };
  }

  /** Samples this process and returns the concurrency the worker should have now. */
  evaluate(active: number): AdmissionSnapshot {
    const now = Date.now();
    const cpu = process.cpuUsage(this.lastCpu);
    const elapsedMs = Math.max(1, now - this.lastAt);
    this.lastCpu = process.cpuUsage();
    this.lastAt = now;
    const cpuCores = (cpu.user + cpu.system) / 1000 / elapsedMs;
    const rssMb = process.memoryUsage().rss / 1024 / 1024;
    const saturated = cpuCores > this.cpuBudget || rssMb > this.memoryBudget;
    // BullMQ needs a concurrency of at least 1; holding it at `active` takes no new job.
    const concurrency = saturated ? Math.max(1, active) : this.capacity;
    this.snapshotValue = { capacity: this.capacity, active, cpuCores, rssMb, saturated, concurrency };
    return this.snapshotValue;
  }

  snapshot(): AdmissionSnapshot {
    return this.snapshotValue;
  }
}
