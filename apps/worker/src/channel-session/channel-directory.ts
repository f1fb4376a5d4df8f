/** The channel directory as the channel session uses it (see ../channel-directory/). */
export type {
  ChannelDirectory,
  ChannelDirectoryEvents,
  ChannelMembership,
  ChannelUser,
} from '../channel-directory/index.js';
import type { Logger } from 'pino';
import { openChannelDirectory, type ChannelDirectory } from '../channel-directory/index.js';
import type { WorkerConfig } from '../config.js';

/** The directory this host's config names (the worker opens it at its first channel recording). */
export function directoryFromConfig(config: WorkerConfig, log?: Logger): ChannelDirectory {
  return openChannelDirectory(config.channelDirectory, process.env, log);
}
