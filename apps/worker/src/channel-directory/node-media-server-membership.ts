import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { channelTokenExpiry, parseUserStreamName, RecfleetError, userStreamName } from '@recfleet/contract';
import type { Logger } from 'pino';
import type { ChannelDirectoryEvents, ChannelMembership, ChannelUser } from './channel-directory.js';
import type { NmsStream, NodeMediaServerApi } from './node-media-server-api.js';
import { tokenExpired } from './node-media-server-token.js';

/**
 * How long a publisher whose metadata has not told its codecs yet (node-media-server shows 0 until the
 * publisher's onMetaData, ~50 ms after the publish) is held back before it is reported with both. Held
 * after the poll that saw it first, so the report stays within 1 s of the publish.
 */
export const METADATA_WAIT_MS = 750;
/** Polls back off to this while the API does not answer. */
const MAX_BACKOFF_MS = 2000;

export interface MembershipOptions {
  appId: string;
  channel: string;
  /** `rtmp://host:port` of the channel server, no trailing slash. */
  rtmpUrl: string;
  token: string | undefined;
  api: NodeMediaServerApi;
  pollIntervalMs: number;
  /** A running membership keeps its users this long after the last answer of the API (see below). */
  unreachableTimeoutMs: number;
  /** Bound to the channel (appId, channel) by the directory. */
  log?: Logger;
}

/** A publisher of the channel in one answer of the API: a codec is true, false or not known yet. */
interface Sighting {
  sessionId: string;
  audio: boolean | undefined;
  video: boolean | undefined;
}

/**
 * One answer of the API, by app and channel: the publishers of each channel (user streams in the
 * canonical spelling). Built once per answer and shared: every membership of a host gets the same
 * answer (NodeMediaServerApi.listStreams), and each reading all of it — every stream name parsed and
 * spelled again, per channel, 4 times a second — was the channel side's largest CPU cost in
 * bench:channels. Kept as long as the answer is.
 */
const answerIndex = new WeakMap<NmsStream[], Map<string, Map<number, Sighting>>>();

function channelKey(appId: string, channel: string): string {
  return `${appId}\u0000${channel}`;
}

function indexOf(streams: NmsStream[]): Map<string, Map<number, Sighting>> {
  let index = answerIndex.get(streams);
  if (index) return index;
  index = new Map();
  for (const s of streams) {
    if (s.status !== 'publishing' || !s.publisher) continue;
    const user = parseUserStreamName(s.name);
    if (!user || userStreamName(user.channel, user.uid) !== s.name) continue;
    const key = channelKey(s.app, user.channel);
    let present = index.get(key);
    if (!present) index.set(key, (present = new Map()));
    present.set(user.uid, {
      sessionId: s.publisher.id,
      audio: codecState(s.publisher.audioCodec),
      video: codecState(s.publisher.videoCodec),
    });
  }
  answerIndex.set(streams, index);
  return index;
}

/**
 * A channel of users on node-media-server, followed by polling its HTTP API every `pollIntervalMs`.
 * The API is taken as the truth: a user whose stream is missing from an answer, or no longer
 * `publishing` (node-media-server's `reconnecting` is a socket that closed), has left at once; a new
 * publisher session on the same path is a leave and a new join. While the API does not answer, nothing
 * changes (logged once): the users stay for `unreachableTimeoutMs` after its last answer, then each
 * leaves (at that last answer), and they join again when it answers again.
 */
export class NodeMediaServerMembership
  extends EventEmitter<ChannelDirectoryEvents>
  implements ChannelMembership
{
  private readonly joined = new Map<number, { user: ChannelUser; sessionId: string }>();
  /** Seen, codecs not known yet: uid → the session and when it was first seen. */
  private readonly held = new Map<number, { sessionId: string; firstSeen: number }>();
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private lastAnswer = Date.now();
  private failing = false;

  constructor(private readonly o: MembershipOptions) {
    super();
  }

  /** Another channel's answer this recent is as good as our own (see NodeMediaServerApi.listStreams). */
  private get sharedAgeMs(): number {
    return this.o.pollIntervalMs / 2;
  }

  users(): ChannelUser[] {
    return [...this.joined.values()].map(({ user }) => ({ ...user })).sort((a, b) => a.uid - b.uid);
  }

  sourceUrl(uid: number): string {
    // The server checks the token at every play: once it has expired, a user who joins after cannot be
    // pulled (node-media-server closes the play, which the engine would take for an outage and retry).
    const expiry = this.o.token === undefined ? undefined : channelTokenExpiry(this.o.token);
    if (expiry && tokenExpired(expiry)) {
      throw new RecfleetError(
        'CHANNEL_AUTH_FAILED',
        `the job's token expired at ${expiry.toISOString()}: the channel server admits no new user's stream`,
      );
    }
    const url = `${this.o.rtmpUrl}/${this.o.appId}/${userStreamName(this.o.channel, uid)}`;
    return this.o.token === undefined ? url : `${url}?sign=${this.o.token}`;
  }

  /**
   * Takes the join's first answer: users already there are in users() (no events for them), and those
   * whose codecs are not known yet are waited for here, at most METADATA_WAIT_MS, so users() is whole.
   */
  async begin(streams: NmsStream[]): Promise<void> {
    this.apply(streams, Date.now());
    const until = Date.now() + METADATA_WAIT_MS;
    while (this.held.size > 0 && Date.now() < until) {
      await this.sleep(Math.min(this.o.pollIntervalMs, 100));
      try {
        this.apply(await this.o.api.listStreams(this.abort.signal, this.sharedAgeMs), Date.now());
      } catch {
        break; // the loop takes over (and reports the outage)
      }
    }
    this.loop = this.run();
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.loop;
    this.removeAllListeners();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.abort.signal.aborted) {
      await this.sleep(
        failures === 0
          ? this.o.pollIntervalMs
          : Math.min(this.o.pollIntervalMs * 2 ** failures, MAX_BACKOFF_MS),
      );
      if (this.abort.signal.aborted) return;
      try {
        const streams = await this.o.api.listStreams(this.abort.signal, this.sharedAgeMs);
        failures = 0;
        this.answered();
        this.apply(streams, Date.now());
      } catch (err) {
        if (this.abort.signal.aborted) return;
        failures++;
        this.unanswered(err as Error);
      }
    }
  }

  private answered(): void {
    this.lastAnswer = Date.now();
    if (this.failing) {
      this.failing = false;
      this.o.log?.info('channel server API answers again');
    }
  }

  private unanswered(err: Error): void {
    const now = Date.now();
    if (!this.failing) {
      this.failing = true;
      this.o.log?.warn(
        { error: err.message, keepUsersMs: this.o.unreachableTimeoutMs },
        'channel server API does not answer; users are kept until it does, or for keepUsersMs',
      );
    }
    if (now - this.lastAnswer < this.o.unreachableTimeoutMs || this.joined.size === 0) return;
    this.o.log?.warn({ users: this.joined.size }, 'channel server API still silent; users count as left');
    for (const uid of [...this.joined.keys()]) this.leave(uid, this.lastAnswer);
    this.held.clear();
  }

  /** One answer of the API: reports every join, leave and change since the last one. */
  private apply(streams: NmsStream[], now: number): void {
    const present = this.sightings(streams);
    for (const [uid, { sessionId }] of this.joined) {
      if (present.get(uid)?.sessionId !== sessionId) this.leave(uid, now);
    }
    for (const [uid, seen] of this.held) {
      if (present.get(uid)?.sessionId !== seen.sessionId) this.held.delete(uid);
    }
    for (const [uid, seen] of present) {
      const current = this.joined.get(uid);
      if (current) {
        const audio = seen.audio ?? current.user.audio;
        const video = seen.video ?? current.user.video;
        if (audio !== current.user.audio || video !== current.user.video) {
          current.user = { ...current.user, audio, video };
          this.report('user_changed', { ...current.user });
        }
        continue;
      }
      const held = this.held.get(uid) ?? { sessionId: seen.sessionId, firstSeen: now };
      const known = seen.audio !== undefined && seen.video !== undefined;
      if (!known && now - held.firstSeen < METADATA_WAIT_MS) {
        this.held.set(uid, held);
        continue;
      }
      this.held.delete(uid);
      const user = { uid, audio: seen.audio ?? true, video: seen.video ?? true, since: held.firstSeen };
      this.joined.set(uid, { user, sessionId: seen.sessionId });
      this.report('user_joined', { ...user });
    }
  }

  private leave(uid: number, at: number): void {
    this.joined.delete(uid);
    this.report('user_left', { uid, at });
  }

  /** The channel's publishers in one answer (user streams of this channel in the canonical spelling). */
  private sightings(streams: NmsStream[]): Map<number, Sighting> {
    return indexOf(streams).get(channelKey(this.o.appId, this.o.channel)) ?? new Map<number, Sighting>();
  }

  private report<E extends keyof ChannelDirectoryEvents>(event: E, ...args: ChannelDirectoryEvents[E]): void {
    try {
      (this.emit as (event: string, ...values: unknown[]) => boolean)(event, ...args);
    } catch (err) {
      // A listener's failure must not stop the membership from following the channel.
      this.o.log?.error({ err, event }, 'channel membership listener failed');
    }
  }

  /** Resolves after `ms`, or at once when the membership closes. */
  private async sleep(ms: number): Promise<void> {
    await delay(ms, undefined, { signal: this.abort.signal }).catch(() => undefined);
  }
}

/** node-media-server's codec field: absent = not published, 0 = not known yet, else published. */
function codecState(codec: number | undefined): boolean | undefined {
  if (codec === undefined || codec === null) return false;
  return codec === 0 ? undefined : true;
}
