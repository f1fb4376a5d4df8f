/**
 * The engine side of `bench/engine-bench.ts`: N recorders in this one Node process, run as a child
 * of the driver so that the driver's own work is not charged to the engine. The driver sends the
 * config, then `start`, `window-start`, `window-end` and `stop` over IPC; this process answers with
 * its event-loop delay (perf_hooks monitorEventLoopDelay) and, per recording, when each segment
 * closed (the wall-clock time its `segment` event reached JS) and how much media it holds.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { counters, Recorder } from '@recfleet/engine-binding';
import type { ChildConfig, ChildToDriver, DriverToChild, SegmentClose } from './engine-support.js';

const send = (message: ChildToDriver): void => {
  process.send?.(message);
};

let config: ChildConfig | undefined;
const recorders: Recorder[] = [];
const segments: SegmentClose[][] = [];
const failures: string[] = [];
let histogram: ReturnType<typeof monitorEventLoopDelay> | undefined;

function start(c: ChildConfig): void {
  c.sourceUrls.forEach((sourceUrl, i) => {
    const closes: SegmentClose[] = [];
    segments.push(closes);
    const r = new Recorder(c.recorderOptions);
    r.on('segment', (e) => {
      closes.push({ closedAt: Date.now(), durationSeconds: e.durationSeconds });
    });
    r.on('fatal_error', (e) => failures.push(`${e.recordingId}: ${e.code} ${e.message}`));
    r.on('stopped', (e) => {
      if (e.reason !== 'requested') failures.push(`${e.recordingId}: stopped (${e.reason})`);
    });
    r.start({
      recordingId: `rec${String(i).padStart(4, '0')}`,
      sourceUrl,
      outputDir: c.outputDir,
      segmentSeconds: c.segmentSeconds,
      maxIdleSeconds: 30,
    });
    recorders.push(r);
  });
}

function windowStart(): void {
  histogram?.disable();
  histogram = monitorEventLoopDelay({ resolution: config!.resolutionMs });
  histogram.enable();
}

function windowEnd(): ChildToDriver {
  const h = histogram;
  h?.disable();
  // The histogram records the whole timer interval; the delay is what exceeds the resolution.
  const delay = (ns: number): number => Math.max(0, ns / 1e6 - config!.resolutionMs);
  return {
    type: 'window-ended',
    loopDelay: {
      p50: h ? delay(h.percentile(50)) : Number.NaN,
      p99: h ? delay(h.percentile(99)) : Number.NaN,
      max: h ? delay(h.max) : Number.NaN,
      samples: h?.count ?? 0,
    },
    segments,
    failures,
    heapMB: process.memoryUsage().heapUsed / 2 ** 20,
  };
}

async function stop(): Promise<void> {
  await Promise.allSettled(recorders.map((r) => r.stop()));
  await Promise.allSettled(recorders.map((r) => r.release()));
}

process.on('message', (raw: unknown) => {
  const message = raw as DriverToChild;
  void (async () => {
    try {
      switch (message.type) {
        case 'config':
          config = message.config;
          // Load the addon now so that the baseline memory the driver takes next includes it.
          counters();
          send({ type: 'ready' });
          break;
        case 'start':
          start(config!);
          send({ type: 'started', recordings: recorders.length });
          break;
        case 'window-start':
          windowStart();
          send({ type: 'window-started' });
          break;
        case 'window-end':
          send(windowEnd());
          break;
        case 'stop':
          await stop();
          send({ type: 'stopped' });
          process.disconnect();
          break;
      }
    } catch (err) {
      send({ type: 'error', message: (err as Error).stack ?? String(err) });
    }
  })();
});

// The driver went away (crashed or was killed): end the recordings rather than run on unattended.
process.on('disconnect', () => {
  void stop().finally(() => process.exit(0));
});
