#!/usr/bin/env node
import { mkdir } from 'node:fs/promises';
import { ConfigError, loadWorkerConfig } from './config.js';
import { createLogger } from './logger.js';
import { RecordingWorker } from './recording-worker.js';

let config;
try {
  config = loadWorkerConfig();
} catch (err) {
  process.stderr.write(`recfleet-worker: ${err instanceof ConfigError ? err.message : String(err)}\n`);
  process.exit(78); // EX_CONFIG
}
const log = createLogger(config.logLevel);
await mkdir(config.spoolDir, { recursive: true });
const worker = new RecordingWorker(config, log);
await worker.start();
log.info(
  { queue: config.queueName, capacity: worker.admission.capacity, httpPort: worker.httpPort },
  'worker ready',
);
if (process.env.RECFLEET_READY_LINE) {
  process.stdout.write(`RECFLEET_WORKER_READY ${JSON.stringify({ httpPort: worker.httpPort ?? null })}\n`);
}

let stopping = false;
const shutdown = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down');
  void worker.close().finally(() => process.exit(0));
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
