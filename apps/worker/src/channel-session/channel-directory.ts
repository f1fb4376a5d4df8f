/**
 * The channel directory as the channel session uses it (the interface of `../channel-directory/`).
 *
 * Interim copy: the directory implementations (`NodeMediaServerDirectory`) and their own declaration of
 * these interfaces live in `apps/worker/src/channel-directory/`; once that module is in the tree this
 * file re-exports its types instead, and `directoryFromConfig` becomes its factory.
 */
import type { EventEmitter } from 'node:events';
import { RecfleetError } from '@recfleet/contract';
import type { WorkerConfig } from '../config.js';

export interface ChannelUser {
  uid: number;
  /** What the user publishes now (a directory that cannot tell yet waits up to ~1 s, then assumes both). */
  audio: boolean;
  video: boolean;
  /** When the directory saw the user start publishing (ms since epoch). */
  since: number;
}

export interface ChannelDirectoryEvents {
  user_joined: [ChannelUser];
  user_left: [{ uid: number; at: number }];
  /** A user's published streams changed (audio/video added or removed). */
  user_changed: [ChannelUser];
}

export interface ChannelMembership extends EventEmitter<ChannelDirectoryEvents> {
  /** Every user publishing now (the recorder's own uid included if someone uses it: the session decides). */
  users(): ChannelUser[];
  /** The URL the engine pulls user `uid`'s stream from (the token in it: never log it unredacted). */
  sourceUrl(uid: number): string;
  close(): Promise<void>;
}

export interface ChannelDirectory {
  readonly kind: string;
  /**
   * Joins (appId, channel) as the silent user `recorderUid`, admitted by `token`. Rejects with a
   * RecfleetError: CHANNEL_AUTH_FAILED (wrong/expired/missing token), SOURCE_UNREACHABLE (the channel
   * server cannot be reached: after a documented wait). Resolves with the live membership.
   */
  join(request: {
    appId: string;
    channel: string;
    recorderUid: number;
    token: string | undefined;
  }): Promise<ChannelMembership>;
}

/** The directory this host's config names (the worker opens it at its first channel recording). */
export function directoryFromConfig(_config: WorkerConfig): ChannelDirectory {
  throw new RecfleetError('CONFIG_INVALID', 'this worker has no channel directory configured');
}
