export * from './auth.js';
export * from './config.js';
export * from './openapi.js';
export * from './problem.js';
export * from './server.js';
