/**
 * Playback of recordings stored in cloud profiles: a real worker records a live channel into an S3
 * profile (s3rver behind a SigV4-presign-checking proxy) and an OSS profile (the OSS test server, which
 * checks signed URLs as the service does). The dashboards' playlist route, behind the API key, must
 * return the stored playlist with every segment replaced by a short-lived signed URL to the store, and
 * each URL must fetch exactly the stored bytes — while the recording is live and after it has ended.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { registerDashboards } from '@recfleet/api/dashboard';
import { OssStorage, S3Storage, type StorageAdapter } from '@recfleet/storage';
import Fastify, { type FastifyInstance } from 'fastify';
// @ts-expect-error s3rver ships no type declarations
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOssTestServer, type OssTestServer } from '../src/fakes/oss-test-server.js';
import { startS3PresignProxy, type S3PresignProxy } from '../src/fakes/s3-presign-proxy.js';
import { FleetFixture } from '../src/harness/fleet-fixture.js';

const scale = Number(process.env.RECFLEET_TEST_TIMEOUT_SCALE ?? 1);
const API_KEY = 'cloud-play-key-4b1e';
const AUTH = { authorization: `Bearer ${API_KEY}` };
const S3_CREDS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const OSS_AK = 'LTAI-cloud-play';
const OSS_SECRET = 'oss-cloud-play-secret-9d2f';
const OSS_SECRET_ENV = 'RECFLEET_TEST_OSS_PLAY_SECRET';
const TTL = 120;

let dir: string;
let s3: { run(): Promise<{ port: number }>; close(): Promise<void> };
let proxy: S3PresignProxy;
let oss: OssTestServer;
let fleet: FleetFixture;
let app: FastifyInstance;
let base: string;
const readers: Record<string, StorageAdapter> = {};
const recordings: Record<string, string> = {};

type Detail = {
  state: string;
  media: { playlistUrl: string; live: boolean; signed: boolean } | null;
  mediaUnavailable?: string;
};

async function detail(id: string): Promise<Detail> {
  const res = await fetch(`${base}/recordings/api/recordings/${id}`, { headers: AUTH });
  expect(res.status).toBe(200);
  return (await res.json()) as Detail;
}

/** Waits until the page offers a player and the playlist lists at least `segments` segments. */
async function signedPlaylist(id: string, segments: number): Promise<{ url: string; text: string }> {
  let url = '';
  let text = '';
  await expect
    .poll(
      async () => {
        const d = await detail(id);
        if (!d.media) return 0;
        url = d.media.playlistUrl;
        const res = await fetch(`${base}${url}`, { headers: AUTH });
        if (res.status !== 200) return 0;
        text = await res.text();
        return text.split('\n').filter((l) => l.startsWith('http')).length;
      },
      { timeout: 40_000 * scale, interval: 500 },
    )
    .toBeGreaterThanOrEqual(segments);
  return { url, text };
}

/**
 * The signed playlist and the stored one as of the same moment: a live playlist is rewritten after every
 * segment, so the stored object is read before and after the route and must not have changed between.
 */
async function playlistPair(profile: string): Promise<{ signed: string; stored: string }> {
  const reader = readers[profile]!;
  const key = `cloud/${profile}/${decodeURIComponent(playlistPaths[profile]!.split('/').pop()!)}`;
  for (let attempt = 0; attempt < 50; attempt++) {
    const before = (await reader.get!(key))!.toString('utf8');
    const res = await fetch(`${base}${playlistPaths[profile]}`, { headers: AUTH });
    expect(res.status).toBe(200);
    const signed = await res.text();
    const after = (await reader.get!(key))!.toString('utf8');
    if (before === after) return { signed, stored: after };
  }
  throw new Error(`the ${profile} playlist never held still for one request`);
}

/**
 * The signed playlist is the stored one line for line, each segment name replaced by a URL to the store
 * for that very object, and each URL fetches exactly the stored bytes.
 */
async function checkSegments(
  profile: string,
  storeOrigin: string,
): Promise<{ text: string; segments: number }> {
  const id = recordings[profile]!;
  const reader = readers[profile]!;
  const { signed, stored } = await playlistPair(profile);
  const storedLines = stored.split('\n');
  const signedLines = signed.split('\n');
  expect(signedLines.length).toBe(storedLines.length);
  let segments = 0;
  for (const [i, line] of signedLines.entries()) {
    if (line === '' || line.startsWith('#')) {
      expect(line).toBe(storedLines[i]);
      continue;
    }
    segments++;
    expect(line.startsWith(`${storeOrigin}/`), line).toBe(true);
    // (s3rver's secret equals its access key id, which a SigV4 URL names by design: only OSS can show it.)
    expect(line).not.toContain(OSS_SECRET);
    const name = decodeURIComponent(new URL(line).pathname.split('/').pop()!);
    expect(name).toBe(storedLines[i]);
    expect(name).toMatch(new RegExp(`^${id}_.+_\\d{6,}\\.ts$`));
    const res = await fetch(line);
    expect(res.status, line).toBe(200);
    const fetched = Buffer.from(await res.arrayBuffer());
    const object = await reader.get!(`cloud/${profile}/${name}`);
    expect(object, name).toBeDefined();
    expect(fetched.equals(object!), name).toBe(true);
  }
  return { text: signed, segments };
}

/** Each profile's playlist route on the dashboards, as the page hands it to the player. */
const playlistPaths: Record<string, string> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recfleet-cloud-play-'));
  s3 = new S3rver({ address: '127.0.0.1', port: 0, directory: join(dir, 's3'), silent: true });
  const { port } = await s3.run();
  proxy = await startS3PresignProxy(`http://127.0.0.1:${port}`, S3_CREDS);
  oss = await startOssTestServer({
    accessKeyId: OSS_AK,
    accessKeySecret: OSS_SECRET,
    buckets: ['recordings'],
  });
  const s3Profile = {
    type: 's3',
    bucket: 'recordings',
    region: 'us-east-1',
    endpoint: proxy.url,
    forcePathStyle: true,
    accessKeyId: S3_CREDS.accessKeyId,
    secretAccessKey: S3_CREDS.secretAccessKey,
  };
  const ossProfile = {
    type: 'oss',
    bucket: 'recordings',
    region: 'cn-hangzhou',
    endpoint: oss.url,
    accessKeyId: OSS_AK,
  };
  const admin = new S3Storage({ ...s3Profile, credentials: S3_CREDS });
  await admin.client.send(new CreateBucketCommand({ Bucket: 'recordings' }));
  readers.s3 = admin;
  readers.oss = new OssStorage({
    ...ossProfile,
    credentials: { accessKeyId: OSS_AK, accessKeySecret: OSS_SECRET },
  });

  fleet = await FleetFixture.start({ channel: 'cloud play' });
  await fleet.worker('a', {
    storageProfiles: {
      s3: s3Profile,
      oss: { ...ossProfile, accessKeySecret: OSS_SECRET },
    },
  });
  app = Fastify();
  await app.register(registerDashboards, {
    redisUrl: fleet.redis.url,
    apiKeys: [API_KEY],
    // The same profiles as the workers', the OSS secret by reference, resolved on this host.
    storageProfiles: { s3: s3Profile, oss: { ...ossProfile, accessKeySecret: { env: OSS_SECRET_ENV } } },
    secretEnv: { [OSS_SECRET_ENV]: OSS_SECRET },
    signedUrlTtlSeconds: TTL,
  });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  let uid = 31;
  for (const profile of ['s3', 'oss']) {
    const { recordingId } = await fleet.client.start({
      appId: fleet.app,
      channel: fleet.channel,
      uid: uid++,
      sourceUrl: fleet.sourceUrl,
      recordingConfig: { segmentSeconds: 1, maxIdleSeconds: 10 },
      storage: { profile, prefix: `cloud/${profile}` },
    });
    recordings[profile] = recordingId;
  }
}, 120_000 * scale);

afterAll(async () => {
  for (const id of Object.values(recordings)) await fleet?.client.stop(id).catch(() => undefined);
  await app?.close();
  await fleet?.stop();
  (readers.s3 as S3Storage | undefined)?.close();
  await proxy?.close();
  await s3?.close();
  await oss?.close();
  await rm(dir, { recursive: true, force: true });
}, 60_000 * scale);

describe.each([
  ['s3', () => proxy.url],
  ['oss', () => oss.url],
])('a recording in the %s profile', (profile, origin) => {
  it(
    'plays live: the playlist route signs every segment, each URL fetches the stored bytes',
    async () => {
      const id = recordings[profile]!;
      const { url } = await signedPlaylist(id, 2);
      playlistPaths[profile] = url;
      const d = await detail(id);
      expect(d.media).toMatchObject({ live: true, signed: true });
      expect(url).toMatch(new RegExp(`^/recordings/media/${id}/${id}_.+\\.m3u8$`));
      const res = await fetch(`${base}${url}`, { headers: AUTH });
      expect(res.headers.get('content-type')).toContain('mpegurl');
      expect(res.headers.get('cache-control')).toBe('no-store');
      const { text, segments } = await checkSegments(profile, origin());
      expect(text).not.toContain('#EXT-X-ENDLIST');
      expect(segments).toBeGreaterThanOrEqual(2);
    },
    90_000 * scale,
  );

  it('refuses the playlist without a valid key, and signed URLs that were altered', async () => {
    const id = recordings[profile]!;
    const url = playlistPaths[profile]!;
    expect((await fetch(`${base}${url}`)).status).toBe(401);
    const wrong = await fetch(`${base}${url}`, { headers: { authorization: 'Bearer not-the-key' } });
    expect(wrong.status).toBe(401);
    const text = await (await fetch(`${base}${url}`, { headers: AUTH })).text();
    const first = text.split('\n').find((l) => l.startsWith('http'))!;
    // Another of the recording's objects under the same signature: the store refuses it.
    const retargeted = first.replace(
      /_(\d{6,})\.ts/,
      (_m, seq: string) => `_${String(Number(seq) + 1).padStart(seq.length, '0')}.ts`,
    );
    expect(retargeted).not.toBe(first);
    expect((await fetch(retargeted)).status).toBe(403);
    // Names outside the recording are never signed.
    for (const bad of [`${id}_x.m3u8`, 'other_room_000001.ts', `..%2F${id}_a_000001.ts`]) {
      expect((await fetch(`${base}/recordings/media/${id}/${bad}`, { headers: AUTH })).status, bad).toBe(404);
    }
  });

  it(
    'plays after the recording ended: the final playlist, every segment signed and intact',
    async () => {
      const id = recordings[profile]!;
      await fleet.client.stop(id);
      await expect
        .poll(async () => (await fleet.client.get(id)).state, { timeout: 40_000 * scale, interval: 500 })
        .toBe('uploaded');
      const res = await fetch(`${base}${playlistPaths[profile]}`, { headers: AUTH });
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text.trim().endsWith('#EXT-X-ENDLIST')).toBe(true);
      expect((await detail(id)).media).toMatchObject({ live: false, signed: true });
      const { segments } = await checkSegments(profile, origin());
      const indexed = (await fleet.index(id)).filter((s) => s.location === 'primary');
      expect(segments).toBe(indexed.length);
      // A segment asked of the plugin is redirected to its signed URL.
      const name = decodeURIComponent(new URL(text.split('\n').find((l) => l.startsWith('http'))!).pathname)
        .split('/')
        .pop()!;
      const redirect = await fetch(`${base}/recordings/media/${id}/${name}`, {
        headers: AUTH,
        redirect: 'manual',
      });
      expect(redirect.status).toBe(302);
      expect((await fetch(redirect.headers.get('location')!)).status).toBe(200);
    },
    90_000 * scale,
  );
});

describe('the stores saw signed requests', () => {
  it('the S3 presign check judged the segment fetches (accepted and refused)', () => {
    expect(proxy.presigned.some((r) => r.status === 200)).toBe(true);
    expect(proxy.presigned.some((r) => r.status === 403)).toBe(true);
  });
});
