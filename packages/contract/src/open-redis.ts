import { Redis, type RedisOptions } from 'ioredis';
import { parseRedisUrl } from './redis-connection.js';

/**
 * Opens a connection to the fleet's Redis named by any URL form `parseRedisUrl` accepts: one server, or
 * the primary that Redis Sentinel names (followed across failovers). Every Redis connection of the
 * worker and of the producer (client, API, dashboards, webhook dispatcher, CLI) is made here, so one URL
 * means one Redis everywhere: the BullMQ workers and queues and recfleet's own keys alike.
 */
export function openRedis(
  url: string,
  options: RedisOptions = {},
  /** Told the first error of each outage (until the connection is ready again), not every retry's. */
  onOutage?: (err: Error) => void,
): Redis {
  const target = parseRedisUrl(url);
  const client =
    target.mode === 'standalone'
      ? new Redis(target.url, options)
      : new Redis({ ...target.options, ...options });
  // Without a listener ioredis prints every reconnect attempt's error ("Unhandled error event", "All
  // sentinels are unreachable") several times a second for as long as a failover or outage lasts.
  let reported = false;
  client.on('error', (err: Error) => {
    if (reported) return;
    reported = true;
    onOutage?.(err);
  });
  client.on('ready', () => {
    reported = false;
  });
  return client;
}
