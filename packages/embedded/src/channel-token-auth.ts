import {
  channelTokenExpiry,
  parseUserStreamName,
  streamPathSign,
  userStreamName,
  verifyChannelToken,
} from '@recfleet/contract';

/** The part of a node-media-server 4.x session this hook reads and writes. */
export interface PlaySession {
  streamPath?: string;
  streamQuery?: Record<string, unknown> | null;
}

/** A node-media-server 4.x instance (`new NodeMediaServer(config)`), as far as this hook uses it. */
export interface NodeMediaServerEvents {
  on(event: 'prePlay', listener: (session: PlaySession) => void): unknown;
}

/**
 * Lets one channel token admit its holder to every user's stream of the channel, on a node-media-server
 * 4.x with `auth: { play: true, secret }`. A channel token (`channelToken` in @recfleet/contract) is
 * node-media-server's own sign over the channel's path `/<appId>/<channel stream name>`; node-media-server
 * itself accepts it only for that exact path. This hook runs in `prePlay`, which node-media-server emits
 * synchronously just before it checks the sign: when the token presented for a user's stream
 * (`/<appId>/<userStreamName(channel, uid)>`) verifies against the user's channel, it replaces
 * `session.streamQuery.sign` with that stream's own sign (same expiry), so node-media-server's check
 * admits the play; otherwise it leaves the query alone and node-media-server refuses the play. The bare
 * channel path needs nothing: the token is that path's own sign.
 *
 * `secret` must be the server's `auth.secret` (non-empty: node-media-server admits every play when its
 * secret is empty). Call it once, before `nms.run()`, on the embedded server or on your own:
 *
 * ```js
 * const nms = new NodeMediaServer({ auth: { play: true, secret }, ... });
 * installChannelTokenAuth(nms, { secret });
 * nms.run();
 * ```
 */
export function installChannelTokenAuth(nms: NodeMediaServerEvents, options: { secret: string }): void {
  const { secret } = options;
  if (typeof secret !== 'string' || secret === '') {
    throw new TypeError('installChannelTokenAuth: secret must be the server’s non-empty auth.secret');
  }
  nms.on('prePlay', (session) => {
    const token = session.streamQuery?.sign;
    if (typeof token !== 'string' || !session.streamPath) return;
    const sign = userStreamSign(session.streamPath, token, secret);
    if (sign !== undefined) session.streamQuery = { ...session.streamQuery, sign };
  });
}

/**
 * The sign node-media-server accepts for `streamPath` when `token` is a valid channel token of the
 * channel that user stream belongs to; undefined when `streamPath` is not a user's stream, or the token
 * does not verify (wrong channel, wrong secret, expired, malformed).
 */
export function userStreamSign(
  streamPath: string,
  token: string,
  secret: string,
  now = new Date(),
): string | undefined {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(streamPath);
  if (!m) return undefined;
  const [, appId, name] = m as unknown as [string, string, string];
  const user = parseUserStreamName(name);
  // Only the canonical spelling of a user's stream: `room_41_u1` decodes to channel `roomA` too, but is
  // another stream than `roomA_u1`, and roomA's token must not open it.
  if (!user || userStreamName(user.channel, user.uid) !== name) return undefined;
  if (!verifyChannelToken(token, appId, user.channel, secret, now)) return undefined;
  return streamPathSign(streamPath, secret, channelTokenExpiry(token)!);
}
