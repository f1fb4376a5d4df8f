import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { counters as engineCounters } from '@recfleet/engine-binding';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The worker's Prometheus metrics, in one registry. Values that are cheap to read are collected at
 * scrape time (engine counters, event-loop delay, queue depth) rather than pushed.
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly segmentsWritten: Counter;
  readonly segmentsUploaded: Counter;
  readonly segmentsBackedUp: Counter;
  readonly uploadFailures: Counter;
  readonly uploadLatency: Histogram;
  readonly recordingsFenced: Counter;
  private readonly loop: IntervalHistogram;

  constructor(sources: {
    activeRecordings: () => number;
    reservedStreams: () => number;
    capacity: () => number;
    saturated: () => boolean;
    queueDepth: () => Promise<number>;
  }) {
    const r = this.registry;
    this.loop = monitorEventLoopDelay({ resolution: 10 });
    this.loop.enable();
    new Gauge({
      name: 'recfleet_active_recordings',
      help: 'Recordings running on this worker',
      registers: [r],
      collect() {
        this.set(sources.activeRecordings());
      },
    });
    new Gauge({
      name: 'recfleet_reserved_streams',
      help: 'Streams reserved by the recordings on this worker (a channel recording reserves its maxUsers)',
      registers: [r],
      collect() {
        this.set(sources.reservedStreams());
      },
    });
    new Gauge({
      name: 'recfleet_admission_capacity',
      help: 'Streams this worker may record (admission control)',
      registers: [r],
      collect() {
        this.set(sources.capacity());
      },
    });
    new Gauge({
      name: 'recfleet_admission_saturated',
      help: '1 while measured use is over budget',
      registers: [r],
      collect() {
        this.set(sources.saturated() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'recfleet_queue_depth',
      help: 'Recording jobs waiting, delayed or prioritized',
      registers: [r],
      async collect() {
        this.set(await sources.queueDepth().catch(() => -1));
      },
    });
    const loop = this.loop;
    new Gauge({
      name: 'recfleet_event_loop_delay_p99_seconds',
      help: 'Event-loop delay, 99th percentile since the last scrape',
      registers: [r],
      collect() {
        this.set(loop.percentile(99) / 1e9);
        loop.reset();
      },
    });
    new Gauge({
      name: 'recfleet_engine_bytes_written',
      help: 'Bytes written by the recorder engine',
      registers: [r],
      collect() {
        this.set(engineCounters().bytesWritten);
      },
    });
    new Gauge({
      name: 'recfleet_engine_packets_dropped',
      help: 'Packets the engine dropped (corrupt, before the first keyframe)',
      registers: [r],
      collect() {
        this.set(engineCounters().packetsDropped);
      },
    });
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

  close(): void {
    this.loop.disable();
  }
}
