export type {
  ChannelDirectory,
  ChannelDirectoryEvents,
  ChannelMembership,
  ChannelUser,
} from './channel-directory.js';
export {
  ChannelDirectoryConfigSchema,
  DEFAULT_CHANNEL_DIRECTORY_CONFIG,
  NodeMediaServerDirectoryConfigSchema,
  openChannelDirectory,
  type ChannelDirectoryConfig,
} from './channel-directory-config.js';
export {
  NodeMediaServerDirectory,
  type NodeMediaServerDirectoryOptions,
} from './node-media-server-directory.js';
export { METADATA_WAIT_MS } from './node-media-server-membership.js';
