export * from './recording-client.js';
export * from './standard-webhooks.js';
