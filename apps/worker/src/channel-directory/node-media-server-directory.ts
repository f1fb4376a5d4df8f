import {
  channelPath,
  channelTokenExpiry,
  RecfleetError,
  redactUrl,
  userStreamName,
} from '@recfleet/contract';
import type { Logger } from 'pino';
import type { ChannelDirectory, ChannelMembership } from './channel-directory.js';
import { ChannelServerCallError, NodeMediaServerApi, type NmsStream } from './node-media-server-api.js';
import { NodeMediaServerMembership } from './node-media-server-membership.js';
import { tokenExpired } from './node-media-server-token.js';

export interface NodeMediaServerDirectoryOptions {
  /** `rtmp://host:port` the recorder pulls users' streams from. */
  rtmpUrl: string;
  /** The server's HTTP base (`http.port`): its API at `/api/v1`, HTTP-FLV plays at `/<app>/<name>.flv`. */
  apiUrl: string;
  /** The server's `auth.jwt.secret` (resolved); without it the API is called without a bearer token. */
  apiSecret?: string;
  /** How often a membership asks the API who publishes (default 250 ms). */
  pollIntervalMs?: number;
  /**
   * How long the server may not answer (default 10 s): join() retries for this long, then rejects with
   * SOURCE_UNREACHABLE; a running membership keeps its users for this long after the API's last answer.
   */
  unreachableTimeoutMs?: number;
  log?: Logger;
}

const REQUEST_TIMEOUT_MS = 2000;
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 2000;

/**
 * The channel directory of a node-media-server 4.x (the embedded channel server, or yours set up as the
 * README's "Channels of users on node-media-server" says): user `uid` of channel `c` in app `a`
 * publishes `/<a>/<userStreamName(c, uid)>`; presence comes from its HTTP API; the job's token (a
 * channel token) is presented as `?sign=` on every play.
 *
 * join() decides admission before anything is recorded:
 * - a token not of the channel-token form, or already expired, is refused here (CHANNEL_AUTH_FAILED);
 * - then the server is asked: an HTTP-FLV play of the channel's own path with the token, and one of the
 *   recorder's own user path (which only a server with the channel token hook admits). A refusal is
 *   CHANNEL_AUTH_FAILED. A job without a token is asked for the same way: a server with play
 *   authentication refuses it (CHANNEL_AUTH_FAILED), an open server admits it;
 * - an API or HTTP-FLV answer that shows the config is wrong (401/403 to the API secret, no API, not
 *   node-media-server) is CONFIG_INVALID;
 * - no answer at all (refused connection, timeout, 5xx) is retried with backoff (250 ms doubling to 2 s)
 *   for `unreachableTimeoutMs`, then SOURCE_UNREACHABLE.
 */
export class NodeMediaServerDirectory implements ChannelDirectory {
  readonly kind = 'node-media-server';
  private readonly rtmpUrl: string;
  private readonly apiUrl: string;
  private readonly api: NodeMediaServerApi;
  private readonly pollIntervalMs: number;
  private readonly unreachableTimeoutMs: number;

  constructor(private readonly options: NodeMediaServerDirectoryOptions) {
    this.rtmpUrl = options.rtmpUrl.replace(/\/+$/, '');
    this.apiUrl = options.apiUrl.replace(/\/+$/, '');
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    this.unreachableTimeoutMs = options.unreachableTimeoutMs ?? 10_000;
    this.api = new NodeMediaServerApi(this.apiUrl, options.apiSecret, REQUEST_TIMEOUT_MS);
  }

  async join(request: {
    appId: string;
    channel: string;
    recorderUid: number;
    token: string | undefined;
  }): Promise<ChannelMembership> {
    const { appId, channel, recorderUid, token } = request;
    checkTokenForm(token);
    const streams = await this.untilAnswered(async () => {
      await this.checkAdmission(channelPath(appId, channel), token, 'channel');
      await this.checkAdmission(`/${appId}/${userStreamName(channel, recorderUid)}`, token, 'user');
      return this.api.listStreams();
    });
    const membership = new NodeMediaServerMembership({
      appId,
      channel,
      rtmpUrl: this.rtmpUrl,
      token,
      api: this.api,
      pollIntervalMs: this.pollIntervalMs,
      unreachableTimeoutMs: this.unreachableTimeoutMs,
      ...(this.options.log ? { log: this.options.log.child({ appId, channel }) } : {}),
    });
    await membership.begin(streams);
    return membership;
  }

  private async checkAdmission(
    path: string,
    token: string | undefined,
    what: 'channel' | 'user',
  ): Promise<void> {
    if (await this.api.admitsPlay(path, token)) return;
    if (what === 'channel') {
      throw new RecfleetError(
        'CHANNEL_AUTH_FAILED',
        token === undefined
          ? 'the channel server requires a token to join the channel, and the job has none'
          : "the channel server refused the job's token for this channel (wrong channel or secret, or expired)",
      );
    }
    throw new RecfleetError(
      'CHANNEL_AUTH_FAILED',
      "the channel server admits the job's token to the channel but not to its users' streams: it lacks the channel token hook (installChannelTokenAuth)",
    );
  }

  /** Runs `attempt` until the server answers, retrying with backoff for unreachableTimeoutMs. */
  private async untilAnswered(attempt: () => Promise<NmsStream[]>): Promise<NmsStream[]> {
    const deadline = Date.now() + this.unreachableTimeoutMs;
    let wait = FIRST_RETRY_MS;
    let logged = false;
    for (;;) {
      try {
        return await attempt();
      } catch (err) {
        if (!(err instanceof ChannelServerCallError)) throw err;
        if (err.kind === 'refused') throw new RecfleetError('CONFIG_INVALID', err.message);
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new RecfleetError(
            'SOURCE_UNREACHABLE',
            `the channel server at ${redactUrl(this.apiUrl)} did not answer within ${this.unreachableTimeoutMs} ms (${err.message})`,
          );
        }
        if (!logged) {
          logged = true;
          this.options.log?.warn(
            { error: err.message, retryForMs: this.unreachableTimeoutMs },
            'channel server does not answer; retrying',
          );
        }
        await new Promise((r) => setTimeout(r, Math.min(wait, left)));
        wait = Math.min(wait * 2, MAX_RETRY_MS);
      }
    }
  }
}

/** A token the server cannot take is refused before asking it: at once, and the same for every server. */
function checkTokenForm(token: string | undefined): void {
  if (token === undefined) return;
  const expiry = channelTokenExpiry(token);
  if (!expiry) {
    throw new RecfleetError(
      'CHANNEL_AUTH_FAILED',
      "the job's token is not a channel token (<expiry>-<32 hex digits>, made by channelToken)",
    );
  }
  if (tokenExpired(expiry)) {
    throw new RecfleetError('CHANNEL_AUTH_FAILED', `the job's token expired at ${expiry.toISOString()}`);
  }
}
