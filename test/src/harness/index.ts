export * from './media-check.js';
export * from './worker-process.js';
export * from './test-redis.js';
export * from './tcp-proxy.js';
export * from './fleet-fixture.js';
export * from './api-process.js';
export * from './webhook-receiver.js';
