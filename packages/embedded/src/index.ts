export { freePort } from './free-port.js';
export { ManagedProcess } from './managed-process.js';
export { RedisServer, type RedisServerOptions } from './redis-server.js';
export { ChannelServer, type ChannelEvent, type ChannelServerOptions } from './channel-server.js';
export {
  installChannelTokenAuth,
  userStreamSign,
  type NodeMediaServerEvents,
  type PlaySession,
} from './channel-token-auth.js';
export { ChannelUserPublisher, type ChannelUserPublisherOptions } from './channel-user-publisher.js';
export {
  TestPublisher,
  TEST_PATTERNS,
  testPublisherArgs,
  type TestPattern,
  type TestPublisherOptions,
} from './test-publisher.js';
export {
  RedisSentinelTopology,
  RedisTopologyError,
  type RedisDataNode,
  type RedisSentinelTopologyOptions,
} from './redis-sentinel-topology.js';
