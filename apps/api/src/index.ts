export * from './config.js';
export * from './http/auth.js';
export * from './http/openapi.js';
export * from './http/problem.js';
export * from './http/server.js';
export * from './webhooks/dispatcher.js';
export * from './http/openapi-document.js';
