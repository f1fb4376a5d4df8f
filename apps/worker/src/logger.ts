import { pino, type Logger } from 'pino';

/**
 * The process's one logger. Tokens and credentials are redacted here, in one place, whatever child
 * logger or object they reach the log through.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'recfleet-worker', pid: process.pid },
    redact: {
      paths: [
        'token',
        '*.token',
        'job.data.token',
        'data.token',
        '*.secretAccessKey',
        '*.accessKeySecret',
        '*.secretKey',
      ],
      censor: '[redacted]',
    },
  });
}

export type { Logger };
