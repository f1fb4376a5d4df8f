export * from './object-keys.js';
export * from './playlist.js';
export * from './storage-adapter.js';
export * from './local-disk-storage.js';
export * from './retry.js';
export * from './recording-uploader.js';
export * from './storage-profiles.js';
