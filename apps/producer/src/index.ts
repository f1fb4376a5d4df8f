export * from './recording-client.js';
export * from './api/index.js';
export * from './webhooks/index.js';
