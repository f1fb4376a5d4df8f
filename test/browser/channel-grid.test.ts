/**
 * The recordings page's synchronized grid in a real browser (headless Debian Chromium through
 * playwright-core): a channel recording of three users who joined at different times, each user's
 * playlist (real H.264/AAC segments with EXT-X-PROGRAM-DATE-TIME) in its own cell with its own hls.js,
 * one play/pause/seek for all. Every cell's media must stay within 0.5 s of the shared timeline after
 * play and across seeks, read from each video element's currentTime and mapped to the channel's clock by
 * the playlist's dates (and by hls.js's own `playingDate`). Also: the users are listed, only the
 * recording's own objects are served, and Bull Board shows the users in the job's progress with the
 * job's token redacted.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RECORD_JOB_NAME, RECORDINGS_QUEUE } from '@recfleet/contract';
import { RedisServer } from '@recfleet/embedded';
import { registerDashboards } from '@recfleet/api/dashboard';
import { Queue, Worker } from 'bullmq';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchChromium } from './chromium.js';
import { type ChannelRecordingFixture, writeChannelRecording } from './channel-recording-fixture.js';

const scale = Number(process.env.RECFLEET_TEST_TIMEOUT_SCALE ?? 1);
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const API_KEY = 'grid-key-2c9d41';
const TOKEN = 'grid-join-token-SHOULD-NOT-SHOW-77a1';
/** How far a cell's media may be from the shared timeline. */
const TOLERANCE_MS = 500;

/**
 * Three users: uid 11 the whole 24 s; uid 22 from 6 s to 16 s, then back from 18.5 s to 23.5 s (the
 * same playlist, after a discontinuity); uid 33 from 12 s to 22 s.
 */
const USERS = [
  { uid: 11, stretches: [{ offsetMs: 0, seconds: 24 }], toneHz: 440 },
  {
    uid: 22,
    stretches: [
      { offsetMs: 6000, seconds: 10 },
      { offsetMs: 18_500, seconds: 5 },
    ],
    toneHz: 660,
  },
  { uid: 33, stretches: [{ offsetMs: 12_000, seconds: 10 }], toneHz: 880 },
];

let redisServer: RedisServer;
let redis: Redis;
let dir: string;
let app: FastifyInstance;
let browser: Browser;
let base: string;
let fixture: ChannelRecordingFixture;

interface CellState {
  uid: number;
  currentTime: number;
  paused: boolean;
  showing: boolean;
  placeholder: string | null;
  playingDate: number | null;
}
interface GridState {
  position: number;
  start: number;
  end: number;
  playing: boolean;
  cells: CellState[];
}

const snapshot = (page: Page): Promise<GridState> =>
  page.evaluate<GridState>('window.recfleetPlayer.grid.snapshot()');

/** The media time a user's cell must show at `t` (ms since epoch), by the fixture's own timeline. */
function mediaTimeAt(uid: number, t: number): number | undefined {
  const stretch = fixture.userStretches.get(uid)!.find(([from, to]) => t >= from && t < to);
  return stretch ? stretch[2] + (t - stretch[0]) / 1000 : undefined;
}

/**
 * How far each showing cell is from the shared time, in ms, by two readings: its currentTime against
 * the media time its user's stretches put at the shared time, and hls.js's `playingDate` (the date of
 * the fragment playing plus the time into it).
 */
function offsets(s: GridState): { uid: number; byPlaylist: number; byHls: number }[] {
  return s.cells
    .filter((c) => c.showing)
    .map((c) => ({
      uid: c.uid,
      byPlaylist: (c.currentTime - (mediaTimeAt(c.uid, s.position) ?? Number.NaN)) * 1000,
      byHls: c.playingDate === null ? Number.NaN : c.playingDate - s.position,
    }));
}

/** The users in the channel at `t` by the fixture (undefined within 0.4 s of a join or a leave). */
function presentAt(t: number): number[] | undefined {
  const present: number[] = [];
  for (const u of USERS) {
    for (const [from, to] of fixture.userStretches.get(u.uid)!) {
      if (Math.abs(t - from) < 400 || Math.abs(t - to) < 400) return undefined;
      if (t >= from && t < to) present.push(u.uid);
    }
  }
  return present;
}

/**
 * Samples the grid for `ms` while it plays: each time, exactly the users present at the shared time
 * show media, each within the tolerance and playing; the others show their placeholder.
 */
async function expectInStep(page: Page, ms: number): Promise<GridState> {
  const until = Date.now() + ms;
  let last: GridState | undefined;
  let samples = 0;
  while (Date.now() < until) {
    last = await snapshot(page);
    expect(last.playing).toBe(true);
    const present = presentAt(last.position);
    if (present) expect(last.cells.filter((c) => c.showing).map((c) => c.uid)).toEqual(present);
    for (const o of offsets(last)) {
      // At a join or a leave the cell may still show what the grid's last tick (≤ 0.1 s ago) placed.
      if (present === undefined && Number.isNaN(o.byPlaylist)) continue;
      expect(Math.abs(o.byPlaylist), `uid ${o.uid} by its playlist's dates`).toBeLessThan(TOLERANCE_MS);
      expect(Math.abs(o.byHls), `uid ${o.uid} by hls.js playingDate`).toBeLessThan(TOLERANCE_MS);
    }
    for (const c of last.cells) {
      if (c.showing) expect(c.paused, `uid ${c.uid} plays`).toBe(false);
      else
        expect(c.placeholder, `uid ${c.uid} placeholder`).toMatch(
          new RegExp(`^uid ${c.uid} (joins|left|away)`),
        );
    }
    samples += 1;
    await new Promise((r) => setTimeout(r, 250));
  }
  expect(samples).toBeGreaterThan(3);
  return last!;
}

/** Seeks as a user does: the shared range input, moved to `atMs` after the timeline's start. */
async function seekTo(page: Page, atMs: number): Promise<void> {
  await page.evaluate(
    `(() => { const r = document.querySelector('.grid-seek'); r.value = String(${atMs}); r.dispatchEvent(new Event('input')); })()`,
  );
}

/** Waits until every cell in `uids` shows media and plays, and the timeline has moved on from `after`. */
async function waitPlaying(page: Page, uids: number[], after: number): Promise<void> {
  await expect
    .poll(
      async () => {
        const s = await snapshot(page);
        const playing = s.cells.filter((c) => c.showing && !c.paused).map((c) => c.uid);
        return s.position > after + 1000 && uids.every((u) => playing.includes(u));
      },
      { timeout: 20_000 * scale, interval: 200 },
    )
    .toBe(true);
}

describe.skipIf(!hasChromium)(
  `channel grid in Chromium${hasChromium ? '' : ' (skipped: /usr/bin/chromium not found)'}`,
  () => {
    beforeAll(async () => {
      redisServer = await RedisServer.start();
      redis = new Redis(redisServer.url);
      dir = await mkdtemp(join(tmpdir(), 'recfleet-grid-'));
      const storageRoot = join(dir, 'storage');
      fixture = await writeChannelRecording({
        redis,
        storageRoot,
        prefix: 'grid',
        recordingId: 'rec-grid-3users',
        appId: 'demo',
        channel: 'grid room',
        recorderUid: 900,
        users: USERS,
        // Ten minutes ago, at an odd millisecond: the dates are the users', not the test's clock.
        startMs: Math.floor(Date.now() / 1000) * 1000 - 600_000 + 137,
      });
      app = Fastify();
      await app.register(registerDashboards, {
        redisUrl: redisServer.url,
        apiKeys: [API_KEY],
        storageProfiles: { local: { type: 'local', root: storageRoot } },
      });
      base = await app.listen({ host: '127.0.0.1', port: 0 });
      browser = await launchChromium(['--autoplay-policy=no-user-gesture-required']);
    }, 120_000 * scale);

    afterAll(async () => {
      await browser?.close();
      await app?.close();
      redis?.disconnect();
      await redisServer?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it("serves the recording's manifest, its users' playlists and their segments by name, nothing else", async () => {
      const auth = { authorization: `Bearer ${API_KEY}` };
      const id = fixture.recordingId;
      const detail = (await (
        await fetch(`${base}/recordings/api/recordings/${id}`, { headers: auth })
      ).json()) as {
        users: { uid: number; present: boolean }[];
        media: { grid: { manifestUrl: string; tracks: { uid: number; playlistUrl: string }[] } };
      };
      expect(detail.users.map((u) => [u.uid, u.present])).toEqual([
        [11, false],
        [22, false],
        [33, false],
      ]);
      expect(detail.media.grid.tracks.map((t) => t.uid)).toEqual([11, 22, 33]);
      for (const t of detail.media.grid.tracks) {
        expect(t.playlistUrl).toBe(
          `/recordings/media/${id}/${encodeURIComponent(fixture.playlists.get(t.uid)!)}`,
        );
      }
      // Each body is read in full: a segment left unread holds its connection open (and the server's close).
      const get = async (file: string): Promise<{ status: number; type: string | null; body: string }> => {
        const res = await fetch(`${base}/recordings/media/${id}/${file}`, { headers: auth });
        return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
      };
      const manifest = await get(encodeURIComponent(fixture.manifestName));
      expect(manifest.status).toBe(200);
      expect(manifest.type).toContain('application/json');
      expect((JSON.parse(manifest.body) as { users: unknown[] }).users).toHaveLength(3);
      for (const uid of [11, 22, 33]) {
        const playlist = await get(encodeURIComponent(fixture.playlists.get(uid)!));
        expect(playlist.status).toBe(200);
        expect(playlist.body).toContain('#EXT-X-PROGRAM-DATE-TIME:');
        expect((await get(encodeURIComponent(fixture.firstSegment.get(uid)!))).status).toBe(200);
      }
      const baseName = fixture.manifestName.slice(0, -'.json'.length);
      for (const bad of [
        `${baseName}.m3u8`, // a single stream's name: not this recording's
        `${baseName}__uid_s_99__uid_e_av.m3u8`, // a user the recording does not have
        `${baseName}__uid_s_11__uid_e_audio.m3u8`, // a track type user 11 does not have
        `${baseName}__uid_s_11__uid_e_av_000000.ts.part`,
        encodeURIComponent(`../grid/${fixture.playlists.get(11)!}`),
        '..%2F..%2Fetc%2Fpasswd',
      ]) {
        expect((await get(bad)).status, bad).toBe(404);
      }
    });

    it(
      'plays the three users in step: within 0.5 s of the shared timeline after play and across seeks',
      async () => {
        const context = await browser.newContext({
          httpCredentials: { username: 'admin', password: API_KEY },
          viewport: { width: 1280, height: 800 },
        });
        const page = await context.newPage();
        const consoleErrors: string[] = [];
        page.on('pageerror', (e) => consoleErrors.push(String(e)));
        try {
          await page.goto(`${base}/recordings?play=${fixture.recordingId}`);
          // The users are listed beside the grid.
          await page
            .locator('#users tbody tr')
            .nth(2)
            .waitFor({ timeout: 15_000 * scale });
          expect(
            await page
              .locator('#users tbody tr')
              .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-uid'))),
          ).toEqual(['11', '22', '33']);
          await page.waitForFunction(
            'window.recfleetPlayer.grid && window.recfleetPlayer.grid.snapshot().playing',
            undefined,
            {
              timeout: 30_000 * scale,
            },
          );
          const first = await snapshot(page);
          // One timeline from the earliest user's start to the latest user's end.
          expect(first.start).toBe(fixture.startMs);
          expect(first.end).toBeCloseTo(fixture.startMs + 24_000, -2);
          expect(first.cells.map((c) => c.uid)).toEqual([11, 22, 33]);

          // From the start: only uid 11 is there; the others wait behind placeholders until they join.
          await waitPlaying(page, [11], fixture.startMs);
          const early = await expectInStep(page, 3000);
          for (const c of early.cells.filter((x) => x.uid !== 11)) {
            expect(c.placeholder).toContain(`uid ${c.uid} joins at`);
            expect(c.paused).toBe(true);
          }
          await mkdir(ARTIFACTS, { recursive: true });
          await page.screenshot({ path: `${ARTIFACTS}channel-grid-start.png` });

          // Seek to 12.5 s: all three are in the channel; through uid 22's leaving at 16 s.
          await seekTo(page, 12_500);
          await waitPlaying(page, [11, 22, 33], fixture.startMs + 12_500);
          await page.screenshot({ path: `${ARTIFACTS}channel-grid-three-users.png` });
          const left = await expectInStep(page, 3500);
          expect(left.cells.find((c) => c.uid === 22)!.placeholder).toContain('uid 22 away, back at');

          // Seek to 18 s: uid 22 comes back at 18.5 s, in the same playlist after its discontinuity.
          await seekTo(page, 18_000);
          await waitPlaying(page, [11, 22, 33], fixture.startMs + 18_000);
          await expectInStep(page, 2500);
          await page.screenshot({ path: `${ARTIFACTS}channel-grid-rejoined.png` });

          // Back to 6.5 s: uid 22 has joined, uid 33 has not yet.
          await seekTo(page, 6500);
          await waitPlaying(page, [11, 22], fixture.startMs + 6500);
          const back = await expectInStep(page, 2500);
          expect(back.cells.find((c) => c.uid === 33)!.placeholder).toContain('uid 33 joins at');

          // Pause holds every cell where it is; play goes on from there, still in step.
          await page.locator('.grid-play').click();
          const paused = await snapshot(page);
          expect(paused.playing).toBe(false);
          await new Promise((r) => setTimeout(r, 1000));
          const stillPaused = await snapshot(page);
          expect(stillPaused.position).toBe(paused.position);
          for (const c of stillPaused.cells.filter((x) => x.showing)) expect(c.paused).toBe(true);
          await page.locator('.grid-play').click();
          await waitPlaying(page, [11, 22], paused.position);
          // Through uid 33's join at 12 s: its cell takes up its media on time.
          await expectInStep(page, 3500);

          const errors = await page.evaluate<{ fatal: boolean }[]>('window.recfleetPlayer.grid.errors');
          expect(errors.filter((e) => e.fatal)).toEqual([]);
          expect(consoleErrors).toEqual([]);
        } finally {
          await context.close();
        }
      },
      180_000 * scale,
    );

    it('Bull Board shows the users in the job progress, with the token redacted', async () => {
      const connection = new Redis(redisServer.url, { maxRetriesPerRequest: null });
      const queue = new Queue(RECORDINGS_QUEUE, { connection, prefix: 'recfleet' });
      const users = USERS.map((u) => ({ uid: u.uid, track: `${u.uid}-av`, segments: 3, durationSeconds: 6 }));
      const worker = new Worker(
        RECORDINGS_QUEUE,
        async (job) => {
          // What the recfleet worker reports: totals plus the per-user figures.
          await job.updateProgress({
            durationSeconds: 18,
            segments: 9,
            bytes: 9000,
            segmentsUploaded: 9,
            bytesUploaded: 9000,
            users,
          });
          await job.log(`user 22 joined; token=${TOKEN}`);
          return { ok: true };
        },
        { connection: new Redis(redisServer.url, { maxRetriesPerRequest: null }), prefix: 'recfleet' },
      );
      worker.on('error', () => undefined);
      try {
        const job = await queue.add(
          RECORD_JOB_NAME,
          {
            recordingId: 'rec-grid-board',
            appId: 'demo',
            channel: 'grid room',
            uid: 901,
            token: TOKEN,
            recordingConfig: { subscribeAudioUids: [11, 22] },
            storage: { profile: 'local' },
          },
          { jobId: 'rec-grid-board' },
        );
        await expect.poll(() => job.getState(), { timeout: 10_000 }).toBe('completed');
        const basic = Buffer.from(`admin:${API_KEY}`).toString('base64');
        const res = await fetch(`${base}/admin/queues/api/queues/recfleet-recordings/rec-grid-board`, {
          headers: { authorization: `Basic ${basic}` },
        });
        expect(res.status).toBe(200);
        const text = await res.text();
        expect(text).not.toContain(TOKEN);
        expect(text).toContain('[redacted]');
        const body = JSON.parse(text) as {
          job: { progress: { users: unknown[] }; data: { recordingConfig: unknown } };
        };
        expect(body.job.progress.users).toEqual(users);
        expect(body.job.data.recordingConfig).toEqual({ subscribeAudioUids: [11, 22] });
        const logs = await fetch(`${base}/admin/queues/api/queues/recfleet-recordings/rec-grid-board/logs`, {
          headers: { authorization: `Basic ${basic}` },
        });
        const logText = await logs.text();
        expect(logText).toContain('user 22 joined');
        expect(logText).not.toContain(TOKEN);
      } finally {
        await worker.close(true);
        await queue.close();
        connection.disconnect();
      }
    });
  },
);
