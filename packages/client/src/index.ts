export * from './recording-client.js';
export * from './standard-webhooks.js';
export * from './recording-api-client.js';
