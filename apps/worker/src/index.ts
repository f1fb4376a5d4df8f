export * from './config.js';
export * from './recording-failure.js';
export * from './recording-record.js';
export * from './recording-session.js';
export * from './recording-worker.js';
export { createLogger } from './logger.js';
