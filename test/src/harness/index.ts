export * from './media-check.js';
export * from './worker-process.js';
