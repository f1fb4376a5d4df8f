export { freePort } from './free-port.js';
export { ManagedProcess } from './managed-process.js';
export { RedisServer, type RedisServerOptions } from './redis-server.js';
export { ChannelServer, type ChannelEvent } from './channel-server.js';
export { TestPublisher, type TestPublisherOptions } from './test-publisher.js';
export {
  RedisSentinelTopology,
  RedisTopologyError,
  type RedisDataNode,
  type RedisSentinelTopologyOptions,
} from './redis-sentinel-topology.js';
