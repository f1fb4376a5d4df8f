import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

describe('logger', () => {
  it('redacts tokens and storage secrets wherever they appear', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = createLogger('info', sink).child({ recordingId: 'r1' });
    log.info(
      {
        token: 'join-secret',
        job: { data: { token: 'job-secret' } },
        profile: { secretAccessKey: 'aws-secret', accessKeySecret: 'oss-secret', secretKey: 'qiniu-secret' },
      },
      'x',
    );
    const text = lines.join('');
    expect(text).toContain('"recordingId":"r1"');
    expect(text).toContain('[redacted]');
    expect(text).not.toMatch(/join-secret|job-secret|aws-secret|oss-secret|qiniu-secret/);
    expect(createLogger('silent').level).toBe('silent');
  });
});
