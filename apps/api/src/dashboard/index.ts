import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import {
  boundedRedisCall,
  DEFAULT_KEY_PREFIX,
  isFinalState,
  MAINTENANCE_QUEUE,
  openRedis,
  RECORDING_ID_PATTERN,
  RECORDINGS_QUEUE,
  redactUrl,
  trackId,
  type TrackType,
} from '@recfleet/contract';
import { Queue } from 'bullmq';
import { StorageError } from '@recfleet/storage';
import { errorProblem } from '../http/error-problem.js';
import { sendProblem } from '../http/problem.js';
import {
  boundedConnectionOptions,
  DEFAULT_REDIS_TIMEOUT_MS,
  RecordingClient,
  RecordingNotFoundError,
  type RecordingStatus,
  type RecordingSummary,
  storageFailureText,
} from '@recfleet/client';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { dashboardAuthHook, type ApiKeyVerifier } from './auth.js';
import { mountBullBoard } from './bull-board.js';
import { CHANNEL_GRID_SCRIPT } from './channel-grid.js';
import {
  asPlayable,
  localMediaPath,
  mediaContentType,
  recordingObjectKind,
  type DashboardStorageProfile,
  type MediaUrlFor,
  type PlayableRecording,
} from './media.js';
import { recordingsPageHtml, RECORDINGS_SCRIPT } from './recordings-page.js';
import { SignedPlaylists } from './signed-playlists.js';

export { presentedKey, type ApiKeyVerifier } from './auth.js';
export type { DashboardStorageProfile, MediaUrlFor, PlayableRecording } from './media.js';
export { redactJobData, redactText, redactUrl, REDACTED } from '@recfleet/contract';
export { rewriteSegmentUris, SignedPlaylists, type SignedPlaylistsOptions } from './signed-playlists.js';

/** Default lifetime of signed segment URLs: long enough for a player's buffer, short enough to leak little. */
export const DEFAULT_SIGNED_URL_TTL_SECONDS = 600;

export interface DashboardOptions {
  /** Redis of the fleet. */
  redisUrl: string;
  /** The client the recordings page reads through (default: one of its own, closed with the plugin). */
  client?: RecordingClient;
  keyPrefix?: string;
  /** The recordings queue (default `recfleet-recordings`). */
  queueName?: string;
  /** Queues shown in Bull Board (default: the recordings queue and `recfleet-maintenance`). */
  queueNames?: readonly string[];
  /** API keys accepted as HTTP Basic password or Bearer token. At least one, or `verifyApiKey`. */
  apiKeys?: readonly string[];
  /** Verifies a presented key (e.g. the producer API's key store); used when `apiKeys` has no match. */
  verifyApiKey?: ApiKeyVerifier;
  /** Realm of the login dialog (default `recfleet`). */
  realm?: string;
  /** Allow Bull Board's actions (retry, clean, pause, …). Default false: read-only. Adding or editing job data stays disabled. */
  allowActions?: boolean;
  /**
   * Storage profiles (the workers' `storageProfiles`, with their secret references). `local` ones are
   * served from disk; for s3/oss/qiniu ones the plugin reads the playlist with the profile's
   * credentials and hands the player signed segment URLs (Qiniu needs `downloadBaseUrl`).
   */
  storageProfiles?: Readonly<Record<string, DashboardStorageProfile>>;
  /** Lifetime of signed segment URLs, 1 to 604800 s (default 600); each playlist fetch signs anew. */
  signedUrlTtlSeconds?: number;
  /** Where `{ env }` secret references in `storageProfiles` are resolved (default process.env). */
  secretEnv?: Record<string, string | undefined>;
  /** Player URL tried before the built-in rules (a CDN, a public bucket URL): see `MediaUrlFor`. */
  mediaUrlFor?: MediaUrlFor;
  /**
   * Bound on each Redis call of a dashboard request, ms (default 3000): Bull Board answers 503, and the
   * recordings page a 503 problem, when Redis does not answer within it.
   */
  redisTimeoutMs?: number;
  /** Mount path of Bull Board (default `/admin/queues`). */
  queuesPath?: string;
  /** Mount path of the recordings page (default `/recordings`). */
  recordingsPath?: string;
}

const require = createRequire(import.meta.url);

/**
 * The producer's dashboards, as one encapsulated fastify plugin: Bull Board at `/admin/queues` and the
 * recordings page (list + hls.js player) at `/recordings`, all behind API-key authentication.
 *
 *   await app.register(registerDashboards, { redisUrl, apiKeys: [key], storageProfiles });
 */
export const registerDashboards: FastifyPluginAsync<DashboardOptions> = async (app, options) => {
  const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  const queueName = options.queueName ?? RECORDINGS_QUEUE;
  const queuesPath = normalizePath(options.queuesPath ?? '/admin/queues');
  const recordingsPath = normalizePath(options.recordingsPath ?? '/recordings');
  const profiles = options.storageProfiles ?? {};
  const signedUrlTtlSeconds = options.signedUrlTtlSeconds ?? DEFAULT_SIGNED_URL_TTL_SECONDS;
  if (!Number.isInteger(signedUrlTtlSeconds) || signedUrlTtlSeconds < 1 || signedUrlTtlSeconds > 604_800) {
    throw new TypeError(
      `registerDashboards: Expected an integer from 1 to 604800 for signedUrlTtlSeconds but received ${String(signedUrlTtlSeconds)}`,
    );
  }
  const signed = new SignedPlaylists(profiles, {
    expiresSeconds: signedUrlTtlSeconds,
    ...(options.secretEnv ? { env: options.secretEnv } : {}),
  });

  // Built first: without keys it throws, and nothing is mounted.
  const auth = dashboardAuthHook({
    ...(options.apiKeys ? { apiKeys: options.apiKeys } : {}),
    ...(options.verifyApiKey ? { verifyApiKey: options.verifyApiKey } : {}),
    ...(options.realm ? { realm: options.realm } : {}),
  });

  const redisTimeoutMs = options.redisTimeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS;
  const client =
    options.client ??
    new RecordingClient({ redisUrl: options.redisUrl, keyPrefix, queueName, redisTimeoutMs });
  // Bounded like the client's: Bull Board's requests fail fast (503) while Redis is away or hung.
  const queueConnection = openRedis(options.redisUrl, boundedConnectionOptions(redisTimeoutMs));
  queueConnection.on('error', () => undefined);
  const queues = (options.queueNames ?? [queueName, MAINTENANCE_QUEUE]).map((name) => {
    const queue = new Queue(name, { connection: queueConnection, prefix: keyPrefix });
    queue.on('error', () => undefined);
    return queue;
  });
  app.addHook('onClose', async () => {
    // Bounded: a hung Redis does not hold the server's close.
    for (const q of queues) {
      await boundedRedisCall(() => q.close(), { timeoutMs: 500, where: redactUrl(options.redisUrl) }).catch(
        () => undefined,
      );
    }
    queueConnection.disconnect();
    if (!options.client) await client.close();
    signed.close();
  });

  app.addHook('onRequest', auth);
  app.addHook('onSend', async (_request, reply, payload) => {
    // Signed media URLs must not leak through Referer; dashboards are not framed by other sites.
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'SAMEORIGIN');
    reply.header('x-content-type-options', 'nosniff');
    return payload;
  });

  await mountBullBoard(app, {
    queues,
    connection: queueConnection,
    timeoutMs: redisTimeoutMs,
    path: queuesPath,
    basePath: `${app.prefix}${queuesPath}`,
    allowActions: options.allowActions === true,
    recordingsUrl: `${app.prefix}${recordingsPath}`,
  });
  await app.register(
    async (scope) =>
      registerRecordingsRoutes(scope, {
        client,
        profiles,
        signed,
        mediaUrlFor: options.mediaUrlFor,
        queuesUrl: `${app.prefix}${queuesPath}`,
      }),
    { prefix: recordingsPath },
  );
};

function normalizePath(path: string): string {
  const p = `/${path.replace(/^\/+|\/+$/g, '')}`;
  return p === '/' ? '' : p;
}

interface RecordingsRoutesOptions {
  client: RecordingClient;
  profiles: Readonly<Record<string, DashboardStorageProfile>>;
  signed: SignedPlaylists;
  mediaUrlFor: MediaUrlFor | undefined;
  queuesUrl: string;
}

/** What the page's JSON endpoints return for one recording. */
export interface DashboardRecording extends RecordingSummary {
  /** Whether the page offers a player (a URL can be made for it and it has, or will have, media). */
  playable: boolean;
  /** "storage failing (CODE) since …" while its uploads keep failing (storageFailureText). */
  storageStatus?: string;
}

/** The page's view of a recording: its summary, whether it plays, and its storage failure as text. */
function dashboardRecording<T extends RecordingSummary>(r: T, playable: boolean): T & DashboardRecording {
  return { ...r, playable, ...(r.storageError ? { storageStatus: storageFailureText(r.storageError) } : {}) };
}

/** One cell of a channel recording's grid: a user track's playlist, served by the plugin by name. */
export interface GridTrack {
  uid: number;
  type: TrackType;
  playlistUrl: string;
  /** Where the track starts on the channel's clock (the users hash's; the playlist's dates decide). */
  firstProgramDateTime?: string;
  durationSeconds: number;
  segments: number;
}

/** A channel recording's media for the page: every user track that has a playlist in storage. */
export interface GridMedia {
  grid: { manifestUrl: string; tracks: GridTrack[] };
  live: boolean;
  signed: boolean;
}

async function registerRecordingsRoutes(app: FastifyInstance, o: RecordingsRoutesOptions): Promise<void> {
  const base = app.prefix;
  let hlsScript: Promise<Buffer> | undefined;

  const isLocal = (p: PlayableRecording): boolean =>
    p.profile?.type === 'local' && typeof p.profile.root === 'string';
  /** The plugin's own playlist route: a file for local profiles, a signed rewrite for cloud ones. */
  const servesItself = (p: PlayableRecording): boolean =>
    isLocal(p) || o.signed.unavailableReason(p.storageProfile) === undefined;
  const mediaUrl = async (p: PlayableRecording): Promise<{ url: string; signed: boolean } | undefined> => {
    const custom = await o.mediaUrlFor?.(p);
    if (custom) return { url: custom, signed: false };
    if (servesItself(p)) {
      const file = p.playlistKey.slice(p.playlistKey.lastIndexOf('/') + 1);
      return { url: mediaPath(p, file), signed: !isLocal(p) };
    }
    return undefined;
  };
  /** A channel recording's segments are in its tracks' indexes: its figures tell whether it has any. */
  const hasMedia = (r: RecordingSummary & { users?: RecordingStatus['users'] }): boolean =>
    r.segmentsIndexed > 0 ||
    (r.kind === 'channel' &&
      ((r.progress?.segments ?? 0) > 0 ||
        (r.result?.segments ?? 0) > 0 ||
        (r.users ?? []).some((u) => u.tracks.some((t) => t.segments > 0))));
  const mediaPath = (p: PlayableRecording, file: string): string =>
    `${base}/media/${encodeURIComponent(p.recordingId)}/${encodeURIComponent(file)}`;
  /** A user track's playlist is in storage: a local file, or a segment of it verified in the primary. */
  const trackAvailable = async (p: PlayableRecording, uid: number, type: TrackType): Promise<boolean> => {
    const file = p.tracks?.find((t) => t.uid === uid && t.type === type)?.playlist;
    if (!file) return false;
    const path = localMediaPath(p, file);
    if (path) return (await stat(path).catch(() => undefined))?.isFile() === true;
    return o.client.hasSegmentInPrimary(p.recordingId, trackId(uid, type));
  };
  /** Why a recording with media cannot be played here, when the plugin does not serve its profile. */
  const unservedReason = (p: PlayableRecording): string => {
    if (!p.profile) return `Storage profile "${p.storageProfile}" is not configured on the dashboards.`;
    // The profile's own validation message names the key to fix; it never contains a secret value.
    if (o.signed.handles(p.storageProfile)) {
      return `Storage profile "${p.storageProfile}" cannot be played: ${o.signed.unavailableReason(p.storageProfile)}`;
    }
    return `Storage profile "${p.storageProfile}" (${p.profile.type}) has no player URL: configure mediaUrlFor.`;
  };
  /**
   * A channel recording's grid: the tracks whose playlists are in storage, each from the plugin's own
   * media route (mediaUrlFor names single playlists only: a grid needs every user's).
   */
  const gridMedia = async (r: RecordingStatus, p: PlayableRecording): Promise<GridMedia | string> => {
    if (!servesItself(p)) return unservedReason(p);
    const tracks: GridTrack[] = [];
    for (const u of r.users ?? []) {
      for (const t of u.tracks) {
        if (!(await trackAvailable(p, u.uid, t.type))) continue;
        const file = p.tracks!.find((x) => x.uid === u.uid && x.type === t.type)!.playlist;
        tracks.push({
          uid: u.uid,
          type: t.type,
          playlistUrl: mediaPath(p, file),
          durationSeconds: t.durationSeconds,
          segments: t.segments,
          ...(t.firstProgramDateTime ? { firstProgramDateTime: t.firstProgramDateTime } : {}),
        });
      }
    }
    if (tracks.length === 0) {
      return isFinalState(r.state) ? 'Nothing was recorded.' : 'Waiting for the first segment…';
    }
    const manifest = p.playlistKey.slice(p.playlistKey.lastIndexOf('/') + 1);
    return {
      grid: { manifestUrl: mediaPath(p, manifest), tracks },
      live: !isFinalState(r.state),
      signed: !isLocal(p),
    };
  };
  /** The playlist exists in storage: a local file, or (any store) a segment verified in the primary. */
  const playlistAvailable = async (p: PlayableRecording): Promise<boolean> => {
    const path = localMediaPath(p, p.playlistKey.slice(p.playlistKey.lastIndexOf('/') + 1));
    if (path) return (await stat(path).catch(() => undefined))?.isFile() === true;
    return o.client.hasSegmentInPrimary(p.recordingId);
  };
  const playable = (r: RecordingSummary): boolean => {
    const p = asPlayable(r, o.profiles);
    if (!p || (!hasMedia(r) && isFinalState(r.state))) return false;
    return (o.mediaUrlFor !== undefined && r.kind !== 'channel') || servesItself(p);
  };

  app.get('/', async (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(recordingsPageHtml(base, o.queuesUrl)),
  );
  app.get('/assets/recordings.js', async (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(RECORDINGS_SCRIPT),
  );
  app.get('/assets/channel-grid.js', async (_request, reply) =>
    reply
      .type('text/javascript; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send(CHANNEL_GRID_SCRIPT),
  );
  app.get('/assets/hls.min.js', async (_request, reply) => {
    hlsScript ??= readFile(require.resolve('hls.js/dist/hls.min.js'));
    return reply
      .type('text/javascript; charset=utf-8')
      .header('cache-control', 'private, max-age=3600')
      .send(await hlsScript);
  });

  // The page's JSON answers errors as the API does (RFC 9457 problems, status by error category).
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    sendProblem(reply, errorProblem(error, request.headers['content-type'], request.log));
  });

  app.get<{ Querystring: { state?: string; channel?: string; limit?: string } }>(
    '/api/recordings',
    async (request) => {
      const page = await o.client.list({
        limit: request.query.limit === undefined ? 100 : Number(request.query.limit),
        ...(request.query.state ? { state: request.query.state } : {}),
        ...(request.query.channel ? { channel: request.query.channel } : {}),
      });
      const recordings: DashboardRecording[] = page.recordings.map((r) => dashboardRecording(r, playable(r)));
      return { recordings };
    },
  );

  app.get<{ Params: { id: string } }>('/api/recordings/:id', async (request) => {
    const { id } = request.params;
    if (!RECORDING_ID_PATTERN.test(id)) throw new RecordingNotFoundError(id);
    const r = await o.client.get(id);
    const p = asPlayable(r, o.profiles);
    /** `signed`: segment URLs expire; the player fetches the playlist again to renew them. */
    let media: { playlistUrl: string; live: boolean; signed: boolean } | GridMedia | null = null;
    let mediaUnavailable: string | undefined;
    /** Set while a live recording has nothing in storage yet: ask again shortly. */
    let retryAfterMs: number | undefined;
    const waiting = (): void => {
      mediaUnavailable = isFinalState(r.state) ? 'Nothing was recorded.' : 'Waiting for the first segment…';
      if (!isFinalState(r.state)) retryAfterMs = 2000;
    };
    if (!p || !hasMedia(r)) {
      waiting();
    } else if (r.kind === 'channel') {
      const grid = await gridMedia(r, p);
      if (typeof grid !== 'string') media = grid;
      else if (!servesItself(p)) mediaUnavailable = grid;
      else waiting();
    } else if (!(await playlistAvailable(p))) {
      waiting();
    } else {
      const url = await mediaUrl(p);
      if (url) media = { playlistUrl: url.url, live: !isFinalState(r.state), signed: url.signed };
      else mediaUnavailable = unservedReason(p);
    }
    const body: DashboardRecording & {
      media: typeof media;
      mediaUnavailable?: string;
      retryAfterMs?: number;
    } = {
      ...dashboardRecording(r, media !== null || retryAfterMs !== undefined),
      media,
      ...(mediaUnavailable ? { mediaUnavailable } : {}),
      ...(retryAfterMs ? { retryAfterMs } : {}),
    };
    return body;
  });

  app.get<{ Params: { id: string; file: string } }>('/media/:id/:file', async (request, reply) => {
    const { id, file } = request.params;
    const notFound = (): unknown => reply.code(404).send({ error: 'not_found' });
    if (!RECORDING_ID_PATTERN.test(id)) return notFound();
    const r = await o.client.get(id).catch((err: unknown) => {
      if (err instanceof RecordingNotFoundError) return undefined;
      throw err;
    });
    const p = r ? asPlayable(r, o.profiles) : undefined;
    if (p && !isLocal(p) && o.signed.handles(p.storageProfile)) {
      return sendFromCloud(p, file, request, reply);
    }
    const path = p ? localMediaPath(p, file) : undefined;
    if (!path) return notFound();
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) return notFound();
    const changes = !file.endsWith('.ts');
    return (
      reply
        .type(mediaContentType(file))
        .header('content-length', info.size)
        // Live playlists and the manifest change as the recording goes; segments never change once written.
        .header('cache-control', changes ? 'no-cache' : 'private, max-age=86400, immutable')
        .send(createReadStream(path))
    );
  });

  /**
   * A cloud recording's playlist, with each segment URI replaced by a signed URL straight to the store;
   * never cached, since its URLs expire and a live playlist grows. A segment asked for here (native HLS
   * players that re-resolve, curl) is redirected to its signed URL. Store failures answer 502 with the
   * error's code only: its message may name internal endpoints.
   */
  const sendFromCloud = async (
    p: PlayableRecording,
    file: string,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<unknown> => {
    const kind = recordingObjectKind(p, file);
    if (!kind) return reply.code(404).send({ error: 'not_found' });
    try {
      if (kind === 'segment') {
        const url = await o.signed.segmentUrl(p, file);
        return reply.header('cache-control', 'no-store').redirect(url!, 302);
      }
      if (kind === 'manifest') {
        const manifest = await o.signed.manifest(p, file);
        if (manifest === undefined) return reply.code(404).send({ error: 'not_found' });
        return reply.type(mediaContentType(file)).header('cache-control', 'no-store').send(manifest);
      }
      const playlist = await o.signed.playlist(p, file);
      if (playlist === undefined) return reply.code(404).send({ error: 'not_found' });
      return reply.type(mediaContentType(file)).header('cache-control', 'no-store').send(playlist);
    } catch (err) {
      const code = err instanceof StorageError ? err.code : 'STORAGE_UNAVAILABLE';
      request.log.warn({ err, recordingId: p.recordingId, code }, 'cloud playlist unavailable');
      return reply.code(502).send({ error: 'storage_unavailable', code });
    }
  };
}
