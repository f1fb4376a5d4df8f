import { createHmac } from 'node:crypto';
import { redactUrl } from '@recfleet/contract';

/** One entry of node-media-server 4.x's `GET /api/v1/streams` (the fields the directory reads). */
export interface NmsStream {
  app: string;
  name: string;
  /** 'publishing'; 'reconnecting' (the publisher's socket closed, within its grace); 'idle' (players only). */
  status: string;
  publisher: {
    id: string;
    /** FLV codec ids from the publisher's metadata: 0 = not known yet, absent = not published. */
    audioCodec?: number;
    videoCodec?: number;
  } | null;
}

/**
 * Why a call to the channel server failed: `unreachable` (no connection, a timeout, a 5xx: worth
 * another try) or `refused` (the server answered, but not as a node-media-server with its API and
 * HTTP-FLV on answers: the directory's config is wrong).
 */
export class ChannelServerCallError extends Error {
  constructor(
    readonly kind: 'unreachable' | 'refused',
    message: string,
  ) {
    super(message);
    this.name = 'ChannelServerCallError';
  }
}

const JWT_LIFETIME_SECONDS = 300;

/**
 * `shared`, or the reason of `signal` once it aborts: one caller giving up (its membership closed) must
 * not cancel the others' shared request. The abort listener goes when the answer comes: the signal lives
 * as long as the membership, which asks several times a second, and a listener left behind would keep
 * every answer it was added for (a whole listing of the server each time).
 */
function untilAborted<T>(shared: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    shared.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

/**
 * The two things a channel directory asks node-media-server 4.x over HTTP: who publishes
 * (`GET /api/v1/streams`, bearer JWT signed with the server's `auth.jwt.secret`), and whether a play
 * with a sign is admitted (an HTTP-FLV play, dropped as soon as its answer's headers arrive).
 * Error messages never carry a sign: play URLs are not quoted, and failures name only their error code.
 */
export class NodeMediaServerApi {
  private jwt: { value: string; renewAt: number } | undefined;
  private listing: Promise<NmsStream[]> | undefined;
  private lastListing: { at: number; streams: NmsStream[] } | undefined;
  /** The HTTP base as messages show it. */
  private readonly shown: string;

  constructor(
    /** The server's HTTP base: `/api/v1` and `/<app>/<name>.flv` are under it. */
    private readonly httpUrl: string,
    private readonly apiSecret: string | undefined,
    private readonly requestTimeoutMs: number,
  ) {
    this.shown = redactUrl(httpUrl);
  }

  /**
   * The server's streams, as one answer shared by every caller: a call while a request is in flight
   * waits for that request, and an answer younger than `maxAgeMs` is reused. A host records many
   * channels of one server, each following its users every poll interval; shared, they cost the server
   * (and the worker) one listing per interval, not one per recording.
   */
  listStreams(signal?: AbortSignal, maxAgeMs = 0): Promise<NmsStream[]> {
    const fresh = this.lastListing && Date.now() - this.lastListing.at <= maxAgeMs;
    if (fresh) return Promise.resolve(this.lastListing!.streams);
    this.listing ??= this.fetchStreams().then(
      (streams) => {
        this.lastListing = { at: Date.now(), streams };
        this.listing = undefined;
        return streams;
      },
      (err: unknown) => {
        this.listing = undefined;
        throw err;
      },
    );
    if (!signal) return this.listing;
    return untilAborted(this.listing, signal);
  }

  private async fetchStreams(): Promise<NmsStream[]> {
    const headers: Record<string, string> = {};
    if (this.apiSecret !== undefined) headers.authorization = `Bearer ${this.bearer()}`;
    const res = await this.call(`${this.httpUrl}/api/v1/streams`, 'the API', headers, undefined);
    if (res.status === 401 || res.status === 403 || res.status === 404) {
      await res.body?.cancel();
      throw new ChannelServerCallError(
        'refused',
        res.status === 404
          ? `no node-media-server API at ${this.shown}/api/v1 (404): the server needs auth.jwt.secret and http.port`
          : `the channel server API refused channelDirectory.apiSecret (${res.status})`,
      );
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new ChannelServerCallError('unreachable', `the channel server API answered ${res.status}`);
    }
    let body: { data?: { streams?: NmsStream[] } };
    try {
      body = (await res.json()) as typeof body;
    } catch {
      throw new ChannelServerCallError('unreachable', 'the channel server API answered something not JSON');
    }
    const streams = body.data?.streams;
    if (!Array.isArray(streams)) {
      throw new ChannelServerCallError('refused', `${this.shown}/api/v1/streams has no data.streams`);
    }
    return streams;
  }

  /**
   * Whether the server admits a play of `streamPath` with `sign` (none: no query). node-media-server
   * answers a refused HTTP-FLV play at once with an empty body (`Content-Length: 0`), and an admitted
   * one with a streamed (chunked) FLV, even while nobody publishes; the request is aborted either way.
   */
  async admitsPlay(streamPath: string, sign: string | undefined, signal?: AbortSignal): Promise<boolean> {
    const query = sign === undefined ? '' : `?sign=${encodeURIComponent(sign)}`;
    const abort = new AbortController();
    const res = await this.call(`${this.httpUrl}${streamPath}.flv${query}`, 'HTTP-FLV', {}, signal, abort);
    try {
      if (res.status >= 500) {
        throw new ChannelServerCallError('unreachable', `an HTTP-FLV play answered ${res.status}`);
      }
      if (res.status !== 200) {
        throw new ChannelServerCallError(
          'refused',
          `an HTTP-FLV play at ${this.shown} answered ${res.status}: channelDirectory.apiUrl must be the node-media-server's HTTP base (http.port)`,
        );
      }
      return res.headers.get('content-length') !== '0';
    } finally {
      abort.abort();
    }
  }

  private async call(
    url: string,
    what: string,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
    abort = new AbortController(),
  ): Promise<Response> {
    const signals = [abort.signal, AbortSignal.timeout(this.requestTimeoutMs)];
    if (signal) signals.push(signal);
    try {
      return await fetch(url, { headers, signal: AbortSignal.any(signals) });
    } catch (err) {
      if (signal?.aborted) throw err;
      // Only the code (ECONNREFUSED, a timeout): the message of a failed play could quote its URL.
      const cause = (err as { cause?: { code?: unknown } }).cause;
      const code = typeof cause?.code === 'string' ? cause.code : (err as Error).name;
      throw new ChannelServerCallError(
        'unreachable',
        `${what} of the channel server at ${this.shown}: ${code}`,
      );
    }
  }

  /** A self-minted HS256 JWT, as node-media-server's API checks it (any payload, signed with its secret). */
  private bearer(): string {
    const now = Date.now();
    if (this.jwt && now < this.jwt.renewAt) return this.jwt.value;
    const iat = Math.floor(now / 1000);
    const part = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub: 'recfleet-channel-directory', iat, exp: iat + JWT_LIFETIME_SECONDS })}`;
    const signature = createHmac('sha256', this.apiSecret!).update(unsigned).digest('base64url');
    this.jwt = { value: `${unsigned}.${signature}`, renewAt: now + (JWT_LIFETIME_SECONDS / 2) * 1000 };
    return this.jwt.value;
  }
}
