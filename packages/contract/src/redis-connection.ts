/**
 * How every recfleet process (worker, producer API, webhook dispatcher, CLI) names its Redis: one URL.
 *
 *   redis://[[user]:password@]host[:port][/db]          one Redis (ioredis parses it)
 *   rediss://…                                           the same over TLS
 *   redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/primaryName[/db][?options]
 *   rediss+sentinel://…                                  the same, TLS to the data nodes and sentinels
 *
 * With Sentinel, the hosts are sentinels (default port 26379); the client asks them for the current
 * primary of `primaryName` and follows every failover. The user and password are those of the data
 * nodes; the sentinels' own credentials, when they have any, are the query options `sentinelUsername`
 * and `sentinelPassword`.
 */
import { z } from 'zod';

export const REDIS_URL_RULE =
  'must be a redis://, rediss://, redis+sentinel:// or rediss+sentinel:// URL (see docs/operations.md)';

/** A Redis URL that cannot be used; the message says why, never echoing a password. */
export class RedisUrlError extends Error {
  readonly code = 'REDIS_URL_INVALID' as const;
  constructor(message: string) {
    super(message);
    this.name = 'RedisUrlError';
  }
}

/** The options a Sentinel-backed client is built with (a subset of ioredis's `RedisOptions`). */
export interface SentinelConnectionOptions {
  sentinels: { host: string; port: number }[];
  /** The primary group name the sentinels monitor. */
  name: string;
  db?: number;
  username?: string;
  password?: string;
  sentinelUsername?: string;
  sentinelPassword?: string;
  tls?: Record<string, never>;
  sentinelTLS?: Record<string, never>;
  enableTLSForSentinelMode?: boolean;
  /**
   * ioredis's `+switch-master` subscriber stays off: when the message lands while a client is already
   * reconnecting (asking a sentinel for the primary), ioredis aborts that attempt and the client ends
   * for good ("Connection is closed", queued commands rejected) — seen as a worker or follower that
   * never comes back after a failover on a loaded host. A dead primary closes its connections anyway,
   * and Sentinel kills the clients of a primary it demotes; `reconnectOnError` covers the rest.
   */
  failoverDetector: false;
  /**
   * A write answered READONLY went to a demoted primary (its clients outlived the demotion): reconnect,
   * which asks the sentinels for the primary again, and send the command again there (ioredis's 2).
   */
  reconnectOnError: (err: Error) => boolean | 1 | 2;
}

export type RedisTarget =
  { mode: 'standalone'; url: string } | { mode: 'sentinel'; options: SentinelConnectionOptions };

const DEFAULT_SENTINEL_PORT = 26379;
const SENTINEL_QUERY_OPTIONS = new Set(['sentinelUsername', 'sentinelPassword']);

/** Parses a Redis URL of any supported form; throws RedisUrlError naming the problem. */
export function parseRedisUrl(url: string): RedisTarget {
  if (/^rediss?:\/\//i.test(url)) return { mode: 'standalone', url };
  const m =
    /^(rediss?)\+sentinel:\/\/(?:([^@/]*)@)?([^/?#@]*)(?:\/([^/?#]*))?(?:\/([^/?#]*))?\/?(?:\?([^#]*))?$/i.exec(
      url,
    );
  if (!m) throw new RedisUrlError(`Redis URL ${REDIS_URL_RULE}`);
  const [, scheme = '', userinfo, hostList = '', name = '', dbText, query] = m;
  if (hostList.trim() === '') {
    throw new RedisUrlError('Redis Sentinel URL lists no sentinel (expected host:port[,host:port…])');
  }
  const sentinels = hostList.split(',').map((entry, i) => parseHostPort(entry.trim(), i));
  const primaryName = decode(name, 'primary name');
  if (primaryName === '') {
    throw new RedisUrlError('Redis Sentinel URL names no primary (expected …/primaryName[/db])');
  }
  const options: SentinelConnectionOptions = {
    sentinels,
    name: primaryName,
    failoverDetector: false,
    reconnectOnError: reconnectOnReadonly,
  };
  if (dbText !== undefined && dbText !== '') {
    if (!/^\d{1,5}$/.test(dbText)) {
      throw new RedisUrlError(`Redis Sentinel URL: database "${dbText}" is not a number`);
    }
    options.db = Number(dbText);
  }
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    const user = decode(colon === -1 ? userinfo : userinfo.slice(0, colon), 'user name');
    const password = colon === -1 ? '' : decode(userinfo.slice(colon + 1), 'password');
    if (user !== '') options.username = user;
    if (password !== '') options.password = password;
  }
  for (const pair of (query ?? '').split('&').filter(Boolean)) {
    const eq = pair.indexOf('=');
    const key = decode(eq === -1 ? pair : pair.slice(0, eq), 'option name');
    const value = decode(eq === -1 ? '' : pair.slice(eq + 1), 'option value');
    if (!SENTINEL_QUERY_OPTIONS.has(key)) {
      throw new RedisUrlError(
        `Redis Sentinel URL: unknown option "${key}" (known: ${[...SENTINEL_QUERY_OPTIONS].join(', ')})`,
      );
    }
    if (key === 'sentinelUsername') options.sentinelUsername = value;
    else options.sentinelPassword = value;
  }
  if (scheme.toLowerCase() === 'rediss') {
    options.tls = {};
    options.sentinelTLS = {};
    options.enableTLSForSentinelMode = true;
  }
  return { mode: 'sentinel', options };
}

/** For config schemas: undefined when the URL is usable, else why not. */
export function redisUrlProblem(url: string): string | undefined {
  // Read after the key's name: "redisUrl: must be a redis://, … URL".
  if (!/^rediss?(\+sentinel)?:\/\//i.test(url)) return REDIS_URL_RULE;
  try {
    parseRedisUrl(url);
    return undefined;
  } catch (err) {
    return err instanceof RedisUrlError ? err.message : String(err);
  }
}

/** The `redisUrl` of every config schema (worker, API, webhook dispatcher): checked at start-up. */
export const RedisUrlSchema = z.string().superRefine((url, ctx) => {
  const problem = redisUrlProblem(url);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

function reconnectOnReadonly(err: Error): boolean | 2 {
  return err.message.startsWith('READONLY') ? 2 : false;
}

function parseHostPort(entry: string, i: number): { host: string; port: number } {
  // [v6]:port, host:port or host alone.
  const m = /^(\[[0-9a-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/i.exec(entry);
  if (!m) throw new RedisUrlError(`Redis Sentinel URL: sentinel ${i + 1} "${entry}" is not host[:port]`);
  const host = (m[1] ?? '').replace(/^\[|\]$/g, '');
  const port = m[2] === undefined ? DEFAULT_SENTINEL_PORT : Number(m[2]);
  if (port < 1 || port > 65535) {
    throw new RedisUrlError(`Redis Sentinel URL: sentinel ${i + 1} port ${port} is out of range`);
  }
  return { host, port };
}

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new RedisUrlError(`Redis Sentinel URL: the ${what} is not valid percent-encoding`);
  }
}
