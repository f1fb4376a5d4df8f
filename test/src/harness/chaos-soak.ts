/**
 * The chaos soak: three worker hosts in network namespaces record 30 recordings (single streams and
 * channel recordings of two users) while faults strike at random — a host's worker killed (`kill -9`,
 * started again on its spool) or told to stop (SIGTERM, started again), a host cut off the network,
 * Redis killed and started again from its AOF, the store down for everyone. Then every recording is
 * stopped, and once each has its terminal event and every spool is empty, the store and Redis are
 * audited object by object (chaos-audit.ts), and the media each fault cost is measured from the
 * playlists' program date-times.
 *
 * A seeded PRNG decides every interval, target and duration, so a failing run can be repeated with its
 * seed. Faults never overlap: the next starts once the last has been undone (the host's worker started
 * again, its cable back in, Redis or the store answering).
 */
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeChannelAsStreamName, errorCodeOf, recordingRedisKeys } from '@recfleet/contract';
import { RecordingClient } from '@recfleet/client';
import { Redis } from 'ioredis';
import {
  auditRecordings,
  trackIndexKeys,
  type ChaosAudit,
  type SoakRecording,
  type TrackMedia,
} from './chaos-audit.js';
import { scaled } from './channel-fleet.js';
import { labStorageProfiles, labStore, startWorkerOnHost, type LabWorker } from './netns-fleet.js';
import { NetnsLab, netnsUnavailableReason, type LabHost, type LabServices } from './netns.js';
import { seededRandom } from './seeded-random.js';

export const FAULT_KINDS = ['kill-9', 'sigterm', 'partition', 'redis-restart', 'storage-outage'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Small and cheap: seven encoders and ~50 pulls must leave the two cores to the fleet. */
export const SOAK_MEDIA = { width: 320, height: 180, frameRate: 15, gop: 15 } as const;
const GOP_MS = (SOAK_MEDIA.gop / SOAK_MEDIA.frameRate) * 1000;
const SEGMENT_SECONDS = 2;
const APP = 'chaos';
const BUCKET = 'rec';
/** Single streams are spread over these channels (one publisher each)… */
const STREAM_CHANNELS = ['north', 'south', 'east'];
/** …channel recordings over these, each with two users publishing. */
const USER_CHANNELS = ['room-a', 'room-b'];
const USERS = [1, 2];
const HOSTS = ['h1', 'h2', 'h3'];
/**
 * How long after a fault is undone its effects may still show as a gap: a takeover needs the lock to
 * lapse (lockSeconds 4 + 2 × stalledCheckSeconds 1) and a join; a gap may also begin up to a segment
 * before the fault (the segment being written when a worker dies is lost with it).
 */
const AFTER_FAULT_MS = 20_000;
const BEFORE_FAULT_MS = SEGMENT_SECONDS * 1000 + GOP_MS;

export interface ChaosSoakOptions {
  /** How long faults go on (the recordings start before and stop after). */
  durationMs: number;
  /** Recordings (default 30). */
  recordings?: number;
  /** Of them, channel recordings of two users (default a third). */
  channelRecordings?: number;
  /** Go on past `durationMs` until this many faults have struck (default 0: stop at `durationMs`). */
  minFaults?: number;
  /** The time from one fault's start to the next one's, drawn uniformly (default 20–40 s). */
  faultEveryMs?: readonly [number, number];
  /** The PRNG's seed (default: drawn, and logged, so that the run can be repeated). */
  seed?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Where to keep every worker's log (`<host>.log`, pino JSON, all its workers in turn) for a post-mortem. */
  logDir?: string;
}

/** One fault as it was inflicted. */
export interface FaultRecord {
  kind: FaultKind;
  /** A host's name, or `redis` / `store`. */
  target: string;
  startedAt: number;
  /** When it was undone (the worker started again, the cable back, the service answering). */
  endedAt: number;
  /** What happened, in a few words. */
  detail: string;
  /** Recordings the fault could hit: the host's at its start, or every one for Redis and the store. */
  exposed: string[];
  /** Per track of the exposed recordings: the media lost to it (seconds; 0 when none). */
  lost: { recordingId: string; track: string; seconds: number }[];
}

/** A gap in a playlist (beyond a GOP) that no fault's window covers. */
export interface UnattributedGap {
  recordingId: string;
  track: string;
  at: number;
  seconds: number;
}

export interface ChaosSoakResult {
  seed: number;
  /** The fault phase, ms. */
  durationMs: number;
  /** From the lab's start to its end, ms. */
  wallMs: number;
  recordings: { id: string; kind: 'single' | 'channel' }[];
  faults: FaultRecord[];
  unattributed: UnattributedGap[];
  audit: ChaosAudit;
  /** Empty spool folders left at the end (by fenced sessions; see spoolLeft). */
  spoolEmptyFolders: number;
  /** Problems of the run itself (a worker that died on its own, a recording that never ended…). */
  problems: string[];
  /** No finished segment lost, no overlap, every playlist decoded clean, one terminal event each, no problem. */
  passed: boolean;
}

/**
 * Fault kinds dealt from a shuffled deck, shuffled again when it runs out: every kind comes once in
 * each round of five, in an order the seed decides (a short run covers every kind; a long one is even).
 */
export function faultDeck(random: () => number): () => FaultKind {
  let deck: FaultKind[] = [];
  return () => {
    if (deck.length === 0) {
      deck = [...FAULT_KINDS];
      for (let i = deck.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [deck[i], deck[j]] = [deck[j]!, deck[i]!];
      }
    }
    return deck.shift()!;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 1000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await sleep(intervalMs);
  }
}

/** A worker host of the soak: its namespace, its worker now, and every line any of its workers printed. */
interface SoakHost {
  host: LabHost;
  current: LabWorker;
  /** Pids of every worker it ran (owners are `host:pid`). */
  pids: number[];
  /** The logs of the workers it ran before the current one. */
  earlierLogs: string[][];
  /** Whether the soak stopped its worker on purpose (a fault), so that an exit is expected. */
  down: boolean;
}

/** Runs the soak; see the module comment. Throws when this machine cannot make a lab (not root…). */
export async function runChaosSoak(options: ChaosSoakOptions): Promise<ChaosSoakResult> {
  const unavailable = netnsUnavailableReason();
  if (unavailable) throw new Error(`the chaos soak needs network namespaces: ${unavailable}`);
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const log = options.log ?? (() => undefined);
  const random = seededRandom(seed);
  const between = (min: number, max: number): number => Math.round(min + random() * (max - min));
  const [everyMin, everyMax] = options.faultEveryMs ?? [20_000, 40_000];
  const total = options.recordings ?? 30;
  const channelCount = options.channelRecordings ?? Math.round(total / 3);
  log(
    `seed ${seed}: ${total} recordings (${channelCount} of channels), faults every ${everyMin}–${everyMax} ms`,
  );

  const wallStart = Date.now();
  const problems: string[] = [];
  const lab = await NetnsLab.create();
  const soakHosts: SoakHost[] = [];
  let client: RecordingClient | undefined;
  let redis: Redis | undefined;
  try {
    const services = await lab.startServices({
      bucket: BUCKET,
      channels: STREAM_CHANNELS.map((channel) => ({ app: APP, channel })),
      users: USER_CHANNELS.flatMap((channel) => USERS.map((uid) => ({ app: APP, channel, uid }))),
      publisher: SOAK_MEDIA,
      durableRedis: true,
    });
    client = new RecordingClient({ redisUrl: services.local.redisUrl });
    // Redis goes away on purpose: its errors surface as failed commands, retried by `until`.
    redis = new Redis(services.local.redisUrl, { maxRetriesPerRequest: 2 }).on('error', () => undefined);
    const backupRoot = join(lab.dir, 'backup');
    await mkdir(backupRoot, { recursive: true });
    const workerConfig = {
      storageProfiles: {
        ...labStorageProfiles(services, BUCKET),
        // The backup a store outage needs to lose nothing: a local store on disk every host shares.
        backup: { type: 'local', root: backupRoot },
      },
      backup: { profile: 'backup', afterAttempts: 3, afterSeconds: 10 },
      channelDirectory: services.channelDirectory,
      // A cut cable stalls a put: give up on the attempt and retry rather than wait a minute.
      uploadAttemptTimeoutSeconds: 10,
      drainIntervalSeconds: 5,
      progressIntervalSeconds: 5,
    };
    const startOn = async (host: LabHost): Promise<LabWorker> =>
      startWorkerOnHost(lab, services, host, BUCKET, workerConfig);
    for (const name of HOSTS) {
      const host = lab.addHost(name);
      const current = await startOn(host);
      soakHosts.push({ host, current, pids: [current.worker.pid!], earlierLogs: [], down: false });
    }
    log(`lab up: services and ${HOSTS.length} hosts in ${Date.now() - wallStart} ms`);

    const recordings = await startRecordings(client, services, total, channelCount);
    const allRecording = await until(async () => {
      for (const r of recordings) if ((await client!.get(r.id)).state !== 'recording') return false;
      return true;
    }, scaled(90_000));
    if (!allRecording) problems.push('not every recording was recording before the faults');
    log(`${recordings.length} recordings started`);

    const faults: FaultRecord[] = [];
    const nextKind = faultDeck(random);
    const phaseStart = Date.now();
    let nextAt = phaseStart + between(everyMin, everyMax) / 2;
    const ownerHost = (owner: string): SoakHost | undefined => {
      const pid = Number(owner.slice(owner.lastIndexOf(':') + 1));
      return soakHosts.find((h) => h.pids.includes(pid));
    };
    const ownedBy = async (h: SoakHost): Promise<string[]> => {
      const ids: string[] = [];
      for (const r of recordings) {
        const owner = await redis!.hget(recordingRedisKeys('recfleet', r.id).record, 'owner');
        if (owner && ownerHost(owner) === h && h.current.worker.pid === pidOf(owner)) ids.push(r.id);
      }
      return ids;
    };
    const restart = async (h: SoakHost): Promise<void> => {
      h.earlierLogs.push(h.current.log);
      h.current = await startOn(h.host);
      h.pids.push(h.current.worker.pid!);
      h.down = false;
    };

    const more = (): boolean =>
      Date.now() < phaseStart + options.durationMs || faults.length < (options.minFaults ?? 0);
    while (more()) {
      await sleep(Math.max(0, nextAt - Date.now()));
      if (!more()) break;
      for (const h of soakHosts) {
        if (h.down || h.current.worker.running) continue;
        problems.push(`${h.host.name}'s worker exited on its own:\n${h.current.worker.output()}`);
        await restart(h);
      }
      const kind = nextKind();
      const startedAt = Date.now();
      nextAt = startedAt + between(everyMin, everyMax);
      const fault = await inflict(kind);
      faults.push(fault);
      log(
        `fault ${faults.length} ${kind} on ${fault.target}: ${fault.detail} (${fault.exposed.length} recordings exposed)`,
      );
    }

    async function inflict(kind: FaultKind): Promise<FaultRecord> {
      const startedAt = Date.now();
      const all = recordings.map((r) => r.id);
      const done = (target: string, exposed: string[], detail: string): FaultRecord => ({
        kind,
        target,
        startedAt,
        endedAt: Date.now(),
        detail,
        exposed,
        lost: [],
      });
      if (kind === 'redis-restart') {
        const downMs = between(2000, 5000);
        await services.down('redis');
        await sleep(downMs);
        await services.up('redis');
        return done('redis', all, `kill -9, started again from its AOF after ${downMs} ms`);
      }
      if (kind === 'storage-outage') {
        const downMs = between(10_000, 15_000);
        await services.down('s3');
        await sleep(downMs);
        await services.up('s3');
        return done('store', all, `s3rver stopped for every host for ${downMs} ms`);
      }
      // A host fault strikes a host that records something, where there is one.
      const owning: { h: SoakHost; ids: string[] }[] = [];
      for (const h of soakHosts) owning.push({ h, ids: await ownedBy(h).catch(() => []) });
      const busy = owning.filter((o) => o.ids.length > 0);
      const pool = busy.length > 0 ? busy : owning;
      const { h, ids } = pool[Math.floor(random() * pool.length)]!;
      const name = h.host.name;
      if (kind === 'partition') {
        const cutMs = between(10_000, 20_000);
        lab.cut(name);
        await sleep(cutMs);
        lab.restore(name);
        return done(name, ids, `cable pulled for ${cutMs} ms`);
      }
      h.down = true;
      if (kind === 'kill-9') {
        const downMs = between(3000, 8000);
        await h.current.worker.kill();
        await sleep(downMs);
        await restart(h);
        return done(name, ids, `kill -9, started again on its spool after ${downMs} ms`);
      }
      const before = Date.now();
      await h.current.worker.stop('SIGTERM', scaled(30_000));
      const exitMs = Date.now() - before;
      const downMs = between(1000, 3000);
      await sleep(downMs);
      await restart(h);
      return done(name, ids, `SIGTERM: exited in ${exitMs} ms, started again after ${downMs} ms`);
    }

    const lastFaultEnd = faults.at(-1)?.endedAt ?? phaseStart;
    log(`${faults.length} faults in ${Date.now() - phaseStart} ms; letting the last one settle`);
    // Each recording resumes after the last fault before it is stopped, so that its loss is measured.
    const settled = await until(() => resumedSince(redis!, recordings, lastFaultEnd), scaled(60_000));
    if (!settled) problems.push('not every track delivered a segment after the last fault');

    const stopAt = Date.now();
    for (const r of recordings) {
      let refusal = '';
      const stopped = await until(async () => {
        try {
          await client!.stop(r.id);
          return true;
        } catch (err) {
          // Said in the problem: a recording that ended on its own (RECORDING_ENDED, with its state)
          // is another finding than a stop that Redis did not take.
          refusal = err instanceof Error ? `${errorCodeOf(err)}: ${err.message}` : String(err);
          return false;
        }
      }, scaled(20_000));
      if (!stopped) problems.push(`${r.id}: stop was not accepted (${refusal})`);
    }
    const ended = await until(async () => {
      for (const r of recordings) {
        if (!(await redis!.hget(recordingRedisKeys('recfleet', r.id).record, 'terminal'))) return false;
      }
      return true;
    }, scaled(120_000));
    if (!ended) problems.push('not every recording had its terminal event within the bound');
    log(`every recording stopped in ${Date.now() - stopAt} ms; waiting for the drain and the spools`);
    const spoolDirs = soakHosts.map((h) => join(lab.dir, `spool-${h.host.name}`));
    const drained = await until(
      async () =>
        (await everyUploaded(redis!, recordings)) && (await spoolLeft(spoolDirs)).files.length === 0,
      scaled(120_000),
    );
    const left = await spoolLeft(spoolDirs);
    if (!drained) {
      problems.push(
        `not drained within the bound; left in spools: ${left.files.join(', ') || 'no file'}` +
          ((await everyUploaded(redis, recordings))
            ? ''
            : '; not every recording is uploaded with all in the primary'),
      );
    }

    log('auditing the store and Redis');
    const audit = await auditRecordings({
      redis,
      client,
      store: labStore(services, BUCKET),
      recordings,
      workDir: join(lab.dir, 'audit'),
      ...(options.logDir ? { keepDir: join(options.logDir, 'undecodable') } : {}),
      log,
    });
    const unattributed = attribute(faults, audit.media);
    const passed =
      problems.length === 0 &&
      audit.lostSegments === 0 &&
      audit.overlaps === 0 &&
      audit.decodeFailures === 0 &&
      audit.terminalProblems === 0 &&
      audit.problems.length === 0;
    return {
      seed,
      durationMs: options.durationMs,
      wallMs: Date.now() - wallStart,
      recordings: recordings.map((r) => ({ id: r.id, kind: r.kind })),
      faults,
      unattributed,
      audit,
      spoolEmptyFolders: left.emptyFolders.length,
      problems,
      passed,
    };
  } finally {
    await client?.close().catch(() => undefined);
    redis?.disconnect();
    await Promise.all(soakHosts.map((h) => h.current.worker.stop('SIGTERM', 5000)));
    if (options.logDir) {
      await mkdir(options.logDir, { recursive: true });
      for (const h of soakHosts) {
        const lines = [...h.earlierLogs, h.current.log].flat();
        await writeFile(join(options.logDir, `${h.host.name}.log`), `${lines.join('\n')}\n`);
      }
    }
    await lab.destroy();
  }
}

function pidOf(owner: string): number {
  return Number(owner.slice(owner.lastIndexOf(':') + 1));
}

/** Starts the soak's recordings: single streams over the stream channels, channel recordings over the rooms. */
async function startRecordings(
  client: RecordingClient,
  services: LabServices,
  total: number,
  channelCount: number,
): Promise<SoakRecording[]> {
  const recordingConfig = { segmentSeconds: SEGMENT_SECONDS, maxIdleSeconds: 60 };
  const planned = Array.from({ length: total }, (_, i) => {
    const single = i < total - channelCount;
    const n = single ? i : i - (total - channelCount);
    const channel = single
      ? STREAM_CHANNELS[n % STREAM_CHANNELS.length]!
      : USER_CHANNELS[n % USER_CHANNELS.length]!;
    return {
      id: `chaos-${single ? 's' : 'c'}${String(n + 1).padStart(2, '0')}`,
      channel,
      kind: single ? ('single' as const) : ('channel' as const),
      // Every recording its own recorder uid: one active recording per app, channel and uid.
      uid: 100 + i,
    };
  });
  for (const r of planned) {
    await client.start({
      recordingId: r.id,
      appId: APP,
      channel: r.channel,
      uid: r.uid,
      ...(r.kind === 'single'
        ? {
            sourceUrl: `${services.rtmpBaseUrl}/${APP}/${encodeChannelAsStreamName(r.channel)}`,
            recordingConfig,
          }
        : { recordingConfig: { ...recordingConfig, maxUsers: USERS.length } }),
      storage: { profile: 's3' },
    });
  }
  return planned.map(({ id, channel, kind }) => ({ id, channel, kind }));
}

/** Whether every track of every recording has a segment delivered after `since`. */
async function resumedSince(redis: Redis, recordings: SoakRecording[], since: number): Promise<boolean> {
  for (const r of recordings) {
    const tracks = await trackIndexKeys(redis, r);
    if (tracks.size === 0) return false;
    for (const key of tracks.values()) {
      const entries = (await redis.hvals(key)).map((v) => JSON.parse(v) as { at: number; location: string });
      if (!entries.some((e) => e.at > since && e.location === 'primary')) return false;
    }
  }
  return true;
}

/** Every recording `uploaded` (a `backed_up` one once the drain delivered it) with nothing outside the primary. */
async function everyUploaded(redis: Redis, recordings: SoakRecording[]): Promise<boolean> {
  for (const r of recordings) {
    if ((await redis.hget(recordingRedisKeys('recfleet', r.id).record, 'state')) !== 'uploaded') return false;
    for (const key of (await trackIndexKeys(redis, r)).values()) {
      if (
        (await redis.hvals(key)).some((v) => (JSON.parse(v) as { location: string }).location !== 'primary')
      )
        return false;
    }
  }
  return true;
}

/**
 * What is left in the hosts' spools: every file (a segment not delivered, a partial one) with its size,
 * and apart from them the empty folders. A fenced session leaves its recording's folders behind, empty
 * (it cannot remove them: the same host may be recording the recording again into them); spool
 * recovery removes them at the host's next start.
 */
async function spoolLeft(dirs: string[]): Promise<{ files: string[]; emptyFolders: string[] }> {
  const left = { files: [] as string[], emptyFolders: [] as string[] };
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const path = join(dir, e.name);
      if (!e.isDirectory()) {
        left.files.push(`${path} (${(await stat(path).catch(() => undefined))?.size ?? '?'} bytes)`);
      } else if ((await readdir(path).catch(() => [])).length === 0) left.emptyFolders.push(`${path}/`);
      else await walk(path);
    }
  };
  for (const dir of dirs) await walk(dir);
  return left;
}

/**
 * Gives each fault the gaps it caused: a gap (beyond a GOP) in a track of a recording it exposed,
 * beginning between a segment before the fault and AFTER_FAULT_MS after it was undone, goes to the
 * latest such fault. Each exposed track gets a row (0 s when it lost nothing). Returns the gaps no fault
 * explains.
 */
export function attribute(faults: FaultRecord[], media: TrackMedia[]): UnattributedGap[] {
  const unattributed: UnattributedGap[] = [];
  const lost = faults.map(() => new Map<string, number>());
  for (const t of media) {
    for (const gap of t.gaps) {
      if (gap.ms <= GOP_MS) continue;
      let best = -1;
      faults.forEach((f, i) => {
        const covers = gap.at >= f.startedAt - BEFORE_FAULT_MS && gap.at <= f.endedAt + AFTER_FAULT_MS;
        if (
          covers &&
          f.exposed.includes(t.recordingId) &&
          (best < 0 || f.startedAt > faults[best]!.startedAt)
        )
          best = i;
      });
      const key = `${t.recordingId} ${t.track}`;
      if (best < 0)
        unattributed.push({ recordingId: t.recordingId, track: t.track, at: gap.at, seconds: gap.ms / 1000 });
      else lost[best]!.set(key, (lost[best]!.get(key) ?? 0) + gap.ms / 1000);
    }
  }
  faults.forEach((f, i) => {
    f.lost = media
      .filter((t) => f.exposed.includes(t.recordingId))
      .map((t) => ({
        recordingId: t.recordingId,
        track: t.track,
        seconds: Math.round((lost[i]!.get(`${t.recordingId} ${t.track}`) ?? 0) * 1000) / 1000,
      }));
  });
  return unattributed;
}
