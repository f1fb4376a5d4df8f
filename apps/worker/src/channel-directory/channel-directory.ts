import type { EventEmitter } from 'node:events';

/**
 * Who is in a channel of users, and how the recorder pulls each of them: one implementation per kind of
 * channel server (node-media-server now; Janus rooms later), chosen by the worker's `channelDirectory`
 * config. A directory joins a channel as the recorder's silent user and reports publishers as they come
 * and go.
 */

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
  /**
   * The URL the engine pulls user `uid`'s stream from (the token in it: never log it unredacted).
   * Throws a RecfleetError CHANNEL_AUTH_FAILED when the server would refuse the play now (the job's
   * token has expired since the join): that user is reported failed instead of retried forever.
   */
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
