import { parseRedisUrl } from '@recfleet/contract';
import { Redis, type RedisOptions } from 'ioredis';

/**
 * Opens a connection to the fleet's Redis named by any URL form `parseRedisUrl` accepts: one server, or
 * the primary that Redis Sentinel names (followed across failovers). Every connection of the producer
 * (client, API, dashboards, webhook dispatcher, CLI) is made here, so one URL means one Redis everywhere.
 */
export function openRedis(url: string, options: RedisOptions = {}): Redis {
  const target = parseRedisUrl(url);
  return target.mode === 'standalone'
    ? new Redis(target.url, options)
    : new Redis({ ...target.options, ...options });
}
