import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { DEFAULT_KEY_PREFIX, isFinalState, RECORDING_ID_PATTERN, RECORDINGS_QUEUE } from '@recfleet/contract';
import { Queue } from 'bullmq';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { Redis } from 'ioredis';
import { dashboardAuthHook, type ApiKeyVerifier } from './auth.js';
import { mountBullBoard } from './bull-board.js';
import {
  asPlayable,
  localMediaPath,
  mediaContentType,
  type DashboardStorageProfile,
  type MediaUrlFor,
  type PlayableRecording,
} from './media.js';
import { RecordingRecords, type RecordingSummary } from './recording-records.js';
import { recordingsPageHtml, RECORDINGS_SCRIPT } from './recordings-page.js';

export { presentedKey, type ApiKeyVerifier } from './auth.js';
export type { DashboardStorageProfile, MediaUrlFor, PlayableRecording } from './media.js';
export {
  RecordingRecords,
  type RecordingProgress,
  type RecordingSummary,
  type ListFilter,
} from './recording-records.js';
export { redactJobData, redactText, redactUrl, REDACTED } from './redact.js';

/** The backup drain's queue (the worker's `MAINTENANCE_QUEUE`). */
const MAINTENANCE_QUEUE = 'recfleet-maintenance';

export interface DashboardOptions {
  /** Redis of the fleet. */
  redisUrl: string;
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
  /** Storage profiles (the workers' `storageProfiles`); `local` ones are served to the player by the plugin. */
  storageProfiles?: Readonly<Record<string, DashboardStorageProfile>>;
  /** Player URL for recordings the plugin does not serve itself (cloud profiles): see `MediaUrlFor`. */
  mediaUrlFor?: MediaUrlFor;
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

  // Built first: without keys it throws, and nothing is mounted.
  const auth = dashboardAuthHook({
    ...(options.apiKeys ? { apiKeys: options.apiKeys } : {}),
    ...(options.verifyApiKey ? { verifyApiKey: options.verifyApiKey } : {}),
    ...(options.realm ? { realm: options.realm } : {}),
  });

  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  const queueConnection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  queueConnection.on('error', () => undefined);
  const queues = (options.queueNames ?? [queueName, MAINTENANCE_QUEUE]).map((name) => {
    const queue = new Queue(name, { connection: queueConnection, prefix: keyPrefix });
    queue.on('error', () => undefined);
    return queue;
  });
  const records = new RecordingRecords(redis, { keyPrefix, queueName });
  app.addHook('onClose', async () => {
    for (const q of queues) await q.close().catch(() => undefined);
    await queueConnection.quit().catch(() => queueConnection.disconnect());
    await redis.quit().catch(() => redis.disconnect());
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
    path: queuesPath,
    basePath: `${app.prefix}${queuesPath}`,
    allowActions: options.allowActions === true,
    recordingsUrl: `${app.prefix}${recordingsPath}`,
  });
  await app.register(
    async (scope) =>
      registerRecordingsRoutes(scope, {
        records,
        profiles,
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
  records: RecordingRecords;
  profiles: Readonly<Record<string, DashboardStorageProfile>>;
  mediaUrlFor: MediaUrlFor | undefined;
  queuesUrl: string;
}

/** What the page's JSON endpoints return for one recording. */
export interface DashboardRecording extends RecordingSummary {
  /** Whether the page offers a player (a URL can be made for it and it has, or will have, media). */
  playable: boolean;
}

async function registerRecordingsRoutes(app: FastifyInstance, o: RecordingsRoutesOptions): Promise<void> {
  const base = app.prefix;
  let hlsScript: Promise<Buffer> | undefined;

  const mediaUrl = async (p: PlayableRecording): Promise<string | undefined> => {
    const custom = await o.mediaUrlFor?.(p);
    if (custom) return custom;
    if (p.profile?.type === 'local' && typeof p.profile.root === 'string') {
      const file = p.playlistKey.slice(p.playlistKey.lastIndexOf('/') + 1);
      return `${base}/media/${encodeURIComponent(p.recordingId)}/${encodeURIComponent(file)}`;
    }
    return undefined;
  };
  const hasMedia = (r: RecordingSummary): boolean => r.segmentsIndexed > 0;
  /** The playlist exists in storage: a local file, or (any store) a segment verified in the primary. */
  const playlistAvailable = async (p: PlayableRecording): Promise<boolean> => {
    const path = localMediaPath(p, p.playlistKey.slice(p.playlistKey.lastIndexOf('/') + 1));
    if (path) return (await stat(path).catch(() => undefined))?.isFile() === true;
    return o.records.hasDeliveredSegment(p.recordingId);
  };
  const playable = (r: RecordingSummary): boolean => {
    const p = asPlayable(r, o.profiles);
    if (!p || (!hasMedia(r) && isFinalState(r.state))) return false;
    return o.mediaUrlFor !== undefined || (p.profile?.type === 'local' && typeof p.profile.root === 'string');
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
  app.get('/assets/hls.min.js', async (_request, reply) => {
    hlsScript ??= readFile(require.resolve('hls.js/dist/hls.min.js'));
    return reply
      .type('text/javascript; charset=utf-8')
      .header('cache-control', 'private, max-age=3600')
      .send(await hlsScript);
  });

  app.get<{ Querystring: { state?: string; channel?: string; limit?: string } }>(
    '/api/recordings',
    async (request) => {
      const limit = Math.min(500, Math.max(1, Number(request.query.limit) || 100));
      const list = await o.records.list({
        limit,
        ...(request.query.state ? { state: request.query.state } : {}),
        ...(request.query.channel ? { channel: request.query.channel } : {}),
      });
      const recordings: DashboardRecording[] = list.map((r) => ({ ...r, playable: playable(r) }));
      return { recordings };
    },
  );

  app.get<{ Params: { id: string } }>('/api/recordings/:id', async (request, reply) => {
    const { id } = request.params;
    const r = RECORDING_ID_PATTERN.test(id) ? await o.records.get(id) : undefined;
    if (!r) return reply.code(404).send({ error: 'not_found', message: `no recording with id ${id}` });
    const p = asPlayable(r, o.profiles);
    let media: { playlistUrl: string; live: boolean } | null = null;
    let mediaUnavailable: string | undefined;
    /** Set while a live recording has nothing in storage yet: ask again shortly. */
    let retryAfterMs: number | undefined;
    if (!p || !hasMedia(r) || !(await playlistAvailable(p))) {
      mediaUnavailable = isFinalState(r.state) ? 'Nothing was recorded.' : 'Waiting for the first segment…';
      if (!isFinalState(r.state)) retryAfterMs = 2000;
    } else {
      const url = await mediaUrl(p);
      if (url) media = { playlistUrl: url, live: !isFinalState(r.state) };
      else {
        mediaUnavailable = p.profile
          ? `Storage profile "${p.storageProfile}" (${p.profile.type}) has no player URL: configure mediaUrlFor.`
          : `Storage profile "${p.storageProfile}" is not configured on the dashboards.`;
      }
    }
    const body: DashboardRecording & {
      media: typeof media;
      mediaUnavailable?: string;
      retryAfterMs?: number;
    } = {
      ...r,
      playable: media !== null || retryAfterMs !== undefined,
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
    const r = await o.records.get(id);
    const p = r ? asPlayable(r, o.profiles) : undefined;
    const path = p ? localMediaPath(p, file) : undefined;
    if (!path) return notFound();
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) return notFound();
    const playlist = file.endsWith('.m3u8');
    return (
      reply
        .type(mediaContentType(file))
        .header('content-length', info.size)
        // The live playlist changes after every segment; segments never change once written.
        .header('cache-control', playlist ? 'no-cache' : 'private, max-age=86400, immutable')
        .send(createReadStream(path))
    );
  });
}
