import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createLogger, LOG_REDACT_PATHS } from './logger.js';

describe('logger', () => {
  it('redacts tokens and storage secrets wherever they appear', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = pino({ redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' } }, sink).child({
      recordingId: 'r1',
    });
    log.info(
      {
        token: 'join-secret',
        job: { data: { token: 'job-secret' } },
        profile: { secretAccessKey: 'aws-secret' },
      },
      'x',
    );
    const text = lines.join('');
    expect(text).not.toMatch(/join-secret|job-secret|aws-secret/);
    expect(text).toContain('"recordingId":"r1"');
    expect(createLogger('silent').level).toBe('silent');
  });
});
