import { describe, expect, it } from 'vitest';
import { parseRedisUrl, RedisUrlError, RedisUrlSchema } from './redis-connection.js';
import { redactUrl } from './redact.js';

describe('parseRedisUrl', () => {
  it('leaves redis:// and rediss:// URLs to ioredis', () => {
    expect(parseRedisUrl('redis://:pw@10.0.0.1:6380/2')).toEqual({
      mode: 'standalone',
      url: 'redis://:pw@10.0.0.1:6380/2',
    });
    expect(parseRedisUrl('rediss://cache.example.com').mode).toBe('standalone');
  });

  it('reads sentinels, the primary name, db and credentials', () => {
    const t = parseRedisUrl(
      'redis+sentinel://app:p%40ss@s1.internal:26380,s2.internal,[::1]:26381/recfleet-main/3?sentinelPassword=s3cret',
    );
    expect(t).toEqual({
      mode: 'sentinel',
      options: {
        sentinels: [
          { host: 's1.internal', port: 26380 },
          { host: 's2.internal', port: 26379 },
          { host: '::1', port: 26381 },
        ],
        name: 'recfleet-main',
        db: 3,
        username: 'app',
        password: 'p@ss',
        sentinelPassword: 's3cret',
        failoverDetector: false,
        reconnectOnError: expect.any(Function),
      },
    });
  });

  it('reconnects and resends a write a demoted primary answered READONLY, and nothing else', () => {
    const t = parseRedisUrl('redis+sentinel://s1/main');
    if (t.mode !== 'sentinel') throw new Error('expected a Sentinel target');
    const readonly = new Error("READONLY You can't write against a read only replica.");
    expect(t.options.reconnectOnError(readonly)).toBe(2);
    expect(t.options.reconnectOnError(new Error('ERR wrong number of arguments'))).toBe(false);
  });

  it('turns on TLS for data nodes and sentinels with rediss+sentinel://', () => {
    const t = parseRedisUrl('rediss+sentinel://:pw@s1:26379/main');
    expect(t.mode === 'sentinel' && t.options).toMatchObject({
      name: 'main',
      password: 'pw',
      tls: {},
      sentinelTLS: {},
      enableTLSForSentinelMode: true,
    });
  });

  it.each([
    ['http://127.0.0.1:6379', /must be a redis:\/\//],
    ['redis+sentinel://s1:26379', /names no primary/],
    ['redis+sentinel://s1:26379/', /names no primary/],
    ['redis+sentinel:///main', /lists no sentinel/],
    ['redis+sentinel://s1:26379,,s2/main', /sentinel 2 "" is not host\[:port\]/],
    ['redis+sentinel://s1:99999/main', /port 99999 is out of range/],
    ['redis+sentinel://s1/main/x', /database "x" is not a number/],
    ['redis+sentinel://s1/main?sentinelPasword=x', /unknown option "sentinelPasword"/],
  ])('refuses %s with a reason', (url, reason) => {
    expect(() => parseRedisUrl(url)).toThrow(RedisUrlError);
    expect(() => parseRedisUrl(url)).toThrow(reason);
  });

  it('never echoes a password in a refusal', () => {
    const r = RedisUrlSchema.safeParse('redis+sentinel://:hunter2@s1:26379,bad host/main?sentinelPassword=x');
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).not.toContain('hunter2');
  });

  it('redacts both passwords', () => {
    expect(redactUrl('redis+sentinel://u:hunter2@s1,s2/main?sentinelPassword=abc&x=1')).toBe(
      'redis+sentinel://[redacted]@s1,s2/main?[redacted]',
    );
    expect(redactUrl('redis://:pw@127.0.0.1:6379')).toBe('redis://[redacted]@127.0.0.1:6379');
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });
});
