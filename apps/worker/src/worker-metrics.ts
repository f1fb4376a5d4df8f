import { counters as engineCounters, type NativeCounters } from '@recfleet/engine-binding';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * prom-client's default metrics that break Prometheus's naming conventions: gauges named `_total`
 * (promtool: "non-counter metrics should not have _total suffix"). Each is the sum of a gauge that
 * stays, by type (`nodejs_active_handles{type="…"}`, …).
 */
const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

/** The engine's cumulative counters, as Prometheus counters (name, help, field of `counters()`). */
const ENGINE_COUNTERS: readonly [string, string, keyof NativeCounters][] = [
  ['recfleet_engine_written_bytes_total', 'Bytes written by the recorder engine', 'bytesWritten'],
  ['recfleet_engine_written_packets_total', 'Packets written by the recorder engine', 'packetsWritten'],
  [
    'recfleet_engine_dropped_packets_total',
    'Packets the engine dropped (corrupt, before the first keyframe)',
    'packetsDropped',
  ],
];

/** How long a scrape waits for the queue's counts: a scrape during an outage of Redis answers anyway. */
const QUEUE_DEPTH_WAIT_MS = 1000;

/**
 * The worker's Prometheus metrics, in one registry, by Prometheus's conventions: what only grows is a
 * counter named `_total`, units are in the names, Node's default process and runtime metrics are there
 * (`process_*`, `nodejs_*`: CPU, memory, event-loop lag, GC), and no value changes because it was
 * scraped. Values that are cheap to read are collected at scrape time (engine counters, queue depth).
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly segmentsWritten: Counter;
  readonly segmentsUploaded: Counter;
  readonly segmentsBackedUp: Counter;
  readonly uploadFailures: Counter;
  readonly uploadLatency: Histogram;
  readonly recordingsFenced: Counter;

  constructor(sources: {
    activeRecordings: () => number;
    standbyRecordings: () => number;
    reservedStreams: () => number;
    capacity: () => number;
    saturated: () => boolean;
    queueDepth: () => Promise<number>;
    redisReachable: () => boolean;
  }) {
    const r = this.registry;
    collectDefaultMetrics({ register: r });
    for (const name of MISNAMED_DEFAULTS) r.removeSingleMetric(name);
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          this.set(read());
        },
      });
    };
    gauge('recfleet_active_recordings', 'Recordings running on this worker', sources.activeRecordings);
    gauge(
      'recfleet_standby_recordings',
      'Recordings this worker records as the standby (redundancy 2: the same ingest and recording CPU as an owner, no uploads)',
      sources.standbyRecordings,
    );
    gauge(
      'recfleet_reserved_streams',
      'Streams reserved by the recordings on this worker (a channel recording reserves its maxUsers)',
      sources.reservedStreams,
    );
    gauge(
      'recfleet_admission_capacity',
      'Streams this worker may record (admission control)',
      sources.capacity,
    );
    gauge('recfleet_admission_saturated', '1 while measured use is over budget', () =>
      sources.saturated() ? 1 : 0,
    );
    gauge('recfleet_redis_reachable', '1 while Redis answers the fleet clock (within 3 s)', () =>
      sources.redisReachable() ? 1 : 0,
    );
    gauge(
      'recfleet_engine_active_recorders',
      'Native recorders running',
      () => engineCounters().activeRecorders,
    );
    gauge('recfleet_engine_threads', 'Native recorder threads', () => engineCounters().threads);
    // The last depth Redis told stays while it does not answer (recfleet_redis_reachable says so).
    let depth = 0;
    new Gauge({
      name: 'recfleet_queue_depth',
      help: 'Recording jobs waiting, delayed or prioritized',
      registers: [r],
      async collect() {
        depth = (await withinMs(sources.queueDepth(), QUEUE_DEPTH_WAIT_MS).catch(() => undefined)) ?? depth;
        this.set(depth);
      },
    });
    for (const [name, help, field] of ENGINE_COUNTERS) {
      // The engine counts from the process's start; the counter follows it by the difference.
      let counted = 0;
      new Counter({
        name,
        help,
        registers: [r],
        collect() {
          const now = engineCounters()[field];
          if (now > counted) this.inc(now - counted);
          counted = Math.max(counted, now);
        },
      });
    }
    this.segmentsWritten = new Counter({
      name: 'recfleet_segments_written_total',
      help: 'Segments finished by the recorder',
      registers: [r],
    });
    this.segmentsUploaded = new Counter({
      name: 'recfleet_segments_uploaded_total',
      help: 'Segments verified in primary storage',
      registers: [r],
    });
    this.segmentsBackedUp = new Counter({
      name: 'recfleet_segments_backed_up_total',
      help: 'Segments stored in the backup store',
      registers: [r],
    });
    this.uploadFailures = new Counter({
      name: 'recfleet_upload_failures_total',
      help: 'Failed upload attempts',
      labelNames: ['code'],
      registers: [r],
    });
    this.uploadLatency = new Histogram({
      name: 'recfleet_upload_latency_seconds',
      help: 'From segment closed to verified in storage and listed in the playlist',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [r],
    });
    this.recordingsFenced = new Counter({
      name: 'recfleet_recordings_fenced_total',
      help: 'Recordings this worker stopped writing because it lost their lock',
      registers: [r],
    });
  }

  /** Nothing to stop: default metrics are collected at scrape time. Kept for the worker's close steps. */
  close(): void {}
}

/** `promise`'s value, or undefined after `ms`. */
function withinMs<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
