import { createHash } from 'node:crypto';
import { encodeChannelAsStreamName } from './channel.js';

/**
 * The channel token of an RTMP channel server (node-media-server's signed-URL play authentication):
 * `<expiry, Unix seconds>-<md5 hex of "/<appId>/<channel stream name>-<expiry>-<secret>">`. It admits
 * its holder to the whole channel: the channel server checks it against the channel's path, and the
 * recorder presents it for every user's stream of that channel. Whoever knows the channel server's secret
 * (the service that starts recordings) makes one per recording.
 */
export function channelToken(appId: string, channel: string, secret: string, expiresAt: Date): string {
  return streamPathSign(channelPath(appId, channel), secret, expiresAt);
}

/**
 * node-media-server's sign for one stream path (`/<app>/<name>`, no query), the value of `?sign=` its
 * `auth.play`/`auth.publish` check accepts: a channel token is this over the channel's path; a channel
 * server that admits the token to a user's stream re-signs the user's path with it.
 */
export function streamPathSign(streamPath: string, secret: string, expiresAt: Date): string {
  const exp = Math.floor(expiresAt.getTime() / 1000);
  return `${exp}-${streamPathDigest(streamPath, secret, exp)}`;
}

export function channelPath(appId: string, channel: string): string {
  return `/${appId}/${encodeChannelAsStreamName(channel)}`;
}

function streamPathDigest(streamPath: string, secret: string, exp: number): string {
  return createHash('md5').update(`${streamPath}-${exp}-${secret}`).digest('hex');
}

/** The expiry a token says it has, or undefined when it is not of the token's form. */
export function channelTokenExpiry(token: string): Date | undefined {
  const m = /^(\d{1,12})-[0-9a-f]{32}$/.exec(token);
  return m ? new Date(Number(m[1]) * 1000) : undefined;
}

/** Whether `token` admits to (appId, channel) under `secret` at `now` (the channel server's check). */
export function verifyChannelToken(
  token: string,
  appId: string,
  channel: string,
  secret: string,
  now = new Date(),
): boolean {
  const expiry = channelTokenExpiry(token);
  if (!expiry || expiry.getTime() < now.getTime() - 999) return false;
  const exp = Math.floor(expiry.getTime() / 1000);
  return token.slice(token.indexOf('-') + 1) === streamPathDigest(channelPath(appId, channel), secret, exp);
}
