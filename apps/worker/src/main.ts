#!/usr/bin/env node
import { mkdir } from 'node:fs/promises';
import { packageVersion, SERVICE_EXIT, serviceConfig } from '@recfleet/contract/service';
import { loadWorkerConfig, redisUrlOrigin, WORKER_ENV_KEYS } from './config.js';
import { createLogger } from './logger.js';
import { RecordingWorker } from './recording-worker.js';

let configFile: string | undefined;
const config = serviceConfig(
  {
    name: 'recfleet-worker',
    summary:
      "records the recording jobs of a recfleet fleet's queue with the native recorder and uploads them to its storage profiles; /metrics, /healthz and /readyz with httpPort",
    version: packageVersion(new URL('../package.json', import.meta.url)),
    configVariable: 'RECFLEET_CONFIG',
    schema: '@recfleet/contract/schema/worker-config.schema.json',
    envKeys: WORKER_ENV_KEYS,
    notes: [
      'A reference config, every key commented: infra/config/worker.yaml in the repository.',
      'SIGTERM hands running recordings to other workers (or finalizes them after shutdownGraceSeconds).',
    ],
  },
  (env, file) => {
    configFile = file;
    return loadWorkerConfig(env, file);
  },
);
const log = createLogger(config.logLevel);
await mkdir(config.spoolDir, { recursive: true });
const worker = new RecordingWorker(config, log, {
  redisUrlOrigin: redisUrlOrigin(process.env, configFile),
});
let started = false;
let stopping = false;
const shutdown = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down');
  // A worker still waiting for Redis (or recovering its spool, which the next start resumes) has no
  // recording to hand over: it stops at once.
  if (!started) process.exit(SERVICE_EXIT.OK);
  void worker.close().finally(() => process.exit(SERVICE_EXIT.OK));
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

await worker.start();
started = true;
log.info(
  { queue: config.queueName, capacity: worker.admission.capacity, httpPort: worker.httpPort },
  'worker ready',
);
if (process.env.RECFLEET_READY_LINE) {
  process.stdout.write(`RECFLEET_WORKER_READY ${JSON.stringify({ httpPort: worker.httpPort ?? null })}\n`);
}
