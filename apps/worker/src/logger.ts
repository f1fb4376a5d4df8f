import { pino, type DestinationStream, type Logger } from 'pino';

/** Where secrets can appear in what we log; censored in one place. */
export const LOG_REDACT_PATHS = [
  'token',
  '*.token',
  'job.data.token',
  'data.token',
  '*.secretAccessKey',
  '*.accessKeySecret',
  '*.secretKey',
  '*.sessionToken',
  '*.stsToken',
];

/**
 * The process's one logger. Tokens and credentials are redacted here, in one place, whatever child
 * logger or object they reach the log through. Writes to stdout unless given another destination.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'recfleet-worker', pid: process.pid },
    redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}

export type { Logger };
