export * from './recording-client.js';
