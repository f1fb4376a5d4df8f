export * from './channel.js';
export * from './error-codes.js';
export * from './json-schema.js';
export * from './recording-job.js';
export * from './recording-result.js';
export * from './redis-keys.js';
export * from './open-redis.js';
export * from './redis-connection.js';
