export * from './dispatcher.js';
export * from './signature.js';
