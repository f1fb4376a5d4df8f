import { parseRedisUrl } from '@recfleet/contract';
import { Redis, type RedisOptions } from 'ioredis';

/**
 * Opens a connection to the fleet's Redis named by any URL form `parseRedisUrl` accepts: one server, or
 * the primary that Redis Sentinel names (followed across failovers). Every connection of the worker is
 * made here, so a Sentinel URL applies to the BullMQ worker, the queue and recfleet's own keys alike.
 */
export function openRedis(url: string, options: RedisOptions = {}): Redis {
  const target = parseRedisUrl(url);
  return target.mode === 'standalone'
    ? new Redis(target.url, options)
    : new Redis({ ...target.options, ...options });
}
