/**
 * The dashboards in a real browser (headless Debian Chromium through playwright-core) against a fastify
 * instance with the plugin and a real fleet recording a live channel: Bull Board behind a login, job data
 * without the token, and the recordings page playing the live recording with hls.js — from local storage,
 * and from an S3 bucket (s3rver behind a SigV4-presign check) through signed segment URLs.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerDashboards } from '@recfleet/api/dashboard';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
// @ts-expect-error s3rver ships no type declarations
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchChromium } from './chromium.js';
import { startS3PresignProxy, type S3PresignProxy } from '../src/fakes/s3-presign-proxy.js';
import { FleetFixture } from '../src/harness/fleet-fixture.js';

const scale = Number(process.env.RECFLEET_TEST_TIMEOUT_SCALE ?? 1);
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

const API_KEY = 'dash-key-7f3a9c';
const TOKEN = 'join-token-SHOULD-NOT-SHOW-5b8e1d';
const CALLBACK_SECRET = 'cbsig-SHOULD-NOT-SHOW-c41d';

let fleet: FleetFixture;
let app: FastifyInstance;
let browser: Browser;
let base: string;
let recordingId: string;
let s3Dir: string;
let s3: { run(): Promise<{ port: number }>; close(): Promise<void> };
let s3Proxy: S3PresignProxy;
let s3RecordingId: string;

// Segments load cross-origin from the bucket: it needs a CORS rule for GET, as a real bucket would.
const CORS_XML = `<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>
<MaxAgeSeconds>600</MaxAgeSeconds></CORSRule></CORSConfiguration>`;

describe.skipIf(!hasChromium)(
  `dashboards in Chromium${hasChromium ? '' : ' (skipped: /usr/bin/chromium not found; install the Debian package "chromium", e.g. ./run setup)'}`,
  () => {
    beforeAll(async () => {
      s3Dir = await mkdtemp(join(tmpdir(), 'recfleet-dash-s3-'));
      s3 = new S3rver({
        address: '127.0.0.1',
        port: 0,
        directory: s3Dir,
        silent: true,
        configureBuckets: [{ name: 'recordings', configs: [CORS_XML] }],
      });
      const { port: s3Port } = await s3.run();
      s3Proxy = await startS3PresignProxy(`http://127.0.0.1:${s3Port}`, {
        accessKeyId: 'S3RVER',
        secretAccessKey: 'S3RVER',
      });
      const s3Profile = {
        type: 's3',
        bucket: 'recordings',
        region: 'us-east-1',
        endpoint: s3Proxy.url,
        forcePathStyle: true,
        accessKeyId: 'S3RVER',
        secretAccessKey: 'S3RVER',
      };
      fleet = await FleetFixture.start({ channel: 'dash' });
      const local = { type: 'local', root: fleet.storageRoot };
      await fleet.worker('a', { storageProfiles: { local, s3: s3Profile } });
      app = Fastify();
      await app.register(registerDashboards, {
        redisUrl: fleet.redis.url,
        apiKeys: [API_KEY],
        storageProfiles: { local, s3: s3Profile },
      });
      base = await app.listen({ host: '127.0.0.1', port: 0 });
      ({ recordingId } = await fleet.client.start({
        appId: fleet.app,
        channel: fleet.channel,
        uid: 21,
        token: TOKEN,
        sourceUrl: fleet.sourceUrl,
        callbackUrl: `http://127.0.0.1:9/hook?sig=${CALLBACK_SECRET}`,
        recordingConfig: { segmentSeconds: 2, maxIdleSeconds: 10 },
        storage: { profile: 'local' },
      }));
      ({ recordingId: s3RecordingId } = await fleet.client.start({
        appId: fleet.app,
        channel: fleet.channel,
        uid: 22,
        sourceUrl: fleet.sourceUrl,
        recordingConfig: { segmentSeconds: 2, maxIdleSeconds: 10 },
        storage: { profile: 's3', prefix: 'dash' },
      }));
      browser = await launchChromium(['--disable-quic']);
      // The job reports progress (every second in tests) once it is recording.
      const deadline = Date.now() + 30_000 * scale;
      while ((await fleet.client.get(recordingId)).state !== 'recording') {
        if (Date.now() > deadline) throw new Error(`recording ${recordingId} did not start`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }, 120_000 * scale);

    afterAll(async () => {
      if (recordingId) await fleet?.client.stop(recordingId).catch(() => undefined);
      if (s3RecordingId) await fleet?.client.stop(s3RecordingId).catch(() => undefined);
      await browser?.close();
      await app?.close();
      await fleet?.stop();
      await s3Proxy?.close();
      await s3?.close();
      if (s3Dir) await rm(s3Dir, { recursive: true, force: true });
    }, 60_000 * scale);

    it('refuses requests without valid credentials with 401 and a Basic challenge', async () => {
      for (const path of [
        '/admin/queues',
        '/recordings',
        '/recordings/api/recordings',
        `/recordings/media/${recordingId}/x.m3u8`,
      ]) {
        const res = await fetch(`${base}${path}`);
        expect(res.status, path).toBe(401);
        expect(res.headers.get('www-authenticate'), path).toMatch(/^Basic realm="recfleet"/);
      }
      const wrong = await fetch(`${base}/admin/queues`, {
        headers: { authorization: `Basic ${Buffer.from('admin:nope').toString('base64')}` },
      });
      expect(wrong.status).toBe(401);
      const bearer = await fetch(`${base}/recordings/api/recordings`, {
        headers: { authorization: `Bearer ${API_KEY}` },
      });
      expect(bearer.status).toBe(200);
    });

    it("serves only the recording's own objects from storage", async () => {
      const auth = { authorization: `Bearer ${API_KEY}` };
      type Detail = { media: { playlistUrl: string } | null };
      let detail: Detail = { media: null };
      await expect
        .poll(
          async () => {
            const res = await fetch(`${base}/recordings/api/recordings/${recordingId}`, { headers: auth });
            detail = (await res.json()) as Detail;
            return detail.media !== null;
          },
          { timeout: 20_000 * scale, interval: 250 },
        )
        .toBe(true);
      expect(detail.media?.playlistUrl).toBe(`/recordings/media/${recordingId}/${recordingId}_dash.m3u8`);
      // The playlist is in storage once the first segment is delivered.
      await expect
        .poll(async () => (await fetch(`${base}${detail.media!.playlistUrl}`, { headers: auth })).status, {
          timeout: 20_000 * scale,
          interval: 250,
        })
        .toBe(200);
      const playlist = await fetch(`${base}${detail.media!.playlistUrl}`, { headers: auth });
      expect(playlist.headers.get('content-type')).toContain('mpegurl');
      for (const bad of [
        `${recordingId}/..%2F..%2F..%2Fetc%2Fpasswd`,
        `${recordingId}/${encodeURIComponent('../' + recordingId + '_dash.m3u8')}`,
        `${recordingId}/other_dash.m3u8`,
        `${recordingId}/${recordingId}_dash_000001.ts.part`,
        `..%2F${recordingId}/${recordingId}_dash.m3u8`,
        `no-such/no-such_dash.m3u8`,
      ]) {
        const res = await fetch(`${base}/recordings/media/${bad}`, { headers: auth });
        expect(res.status, bad).toBe(404);
      }
    });

    it(
      'Bull Board: after login it shows the running job with its progress, never its token',
      async () => {
        const context = await browser.newContext({
          httpCredentials: { username: 'admin', password: API_KEY },
        });
        try {
          const page = await context.newPage();
          await page.goto(`${base}/admin/queues/queue/recfleet-recordings?status=active`);
          await page
            .getByText(recordingId)
            .first()
            .waitFor({ timeout: 30_000 * scale });
          // The job card's Progress tab shows the worker's progress object (reported every second here).
          await page.getByRole('tab', { name: 'Progress', exact: true }).first().click();
          await expect
            .poll(async () => page.content(), { timeout: 30_000 * scale, interval: 500 })
            .toMatch(/segmentsUploaded/);
          const html = await page.content();
          expect(html).toContain('uploadPercent');
          expect(html).not.toContain(TOKEN);
          expect(html).not.toContain(CALLBACK_SECRET);
          await mkdir(ARTIFACTS, { recursive: true });
          await page.screenshot({ path: `${ARTIFACTS}bull-board.png`, fullPage: true });

          // The JSON the board renders from, fetched in the page with the page's credentials.
          const res = await page.evaluate(async (id) => {
            const r = await fetch(`/admin/queues/api/queues/recfleet-recordings/${id}`);
            return { status: r.status, text: await r.text() };
          }, recordingId);
          expect(res.status).toBe(200);
          expect(res.text).not.toContain(TOKEN);
          expect(res.text).not.toContain(CALLBACK_SECRET);
          expect(res.text).toContain('[redacted]');

          // Read-only: actions are refused.
          const clean = await page.evaluate(async () => {
            const r = await fetch('/admin/queues/api/queues/recfleet-recordings/clean/completed', {
              method: 'PUT',
            });
            return r.status;
          });
          expect(clean).toBe(403);
        } finally {
          await context.close();
        }
      },
      90_000 * scale,
    );

    it(
      'recordings page: lists the recording and plays it live with hls.js',
      async () => {
        const context = await browser.newContext({
          httpCredentials: { username: 'admin', password: API_KEY },
          viewport: { width: 1280, height: 720 },
        });
        try {
          const page = await context.newPage();
          await page.goto(`${base}/recordings`);
          const row = page.locator(`tr[data-recording-id="${recordingId}"]`);
          await row.waitFor({ timeout: 15_000 * scale });
          await expect
            .poll(async () => row.locator('.state').textContent(), { timeout: 15_000 * scale })
            .toBe('recording');
          // Browser-side code is passed as strings: the tests are compiled without the DOM library.
          const h264 = await page.evaluate<boolean>(
            `MediaSource.isTypeSupported('video/mp4; codecs="avc1.64001e,mp4a.40.2"')`,
          );
          expect(h264, 'this Chromium build cannot play H.264/AAC through MSE (no proprietary codecs)').toBe(
            true,
          );

          await row.getByRole('button').click();
          // Playback starts near the live edge; it must then play on for 5 s of media, with no hls.js error.
          const first = await page.waitForFunction(
            `(() => { const v = document.querySelector('video'); return v.currentTime > 0 && !v.paused ? v.currentTime : null; })()`,
            undefined,
            { timeout: 30_000 * scale, polling: 200 },
          );
          const startedAt = (await first.jsonValue()) as number;
          await page.waitForFunction(
            `(() => { const v = document.querySelector('video'); return v.currentTime > 5 && v.currentTime - ${startedAt} >= 5; })()`,
            undefined,
            { timeout: 45_000 * scale, polling: 250 },
          );
          const player = await page.evaluate<{ recordingId: string; url: string; errors: unknown[] }>(
            `({ recordingId: window.recfleetPlayer.recordingId, url: window.recfleetPlayer.url, errors: window.recfleetPlayer.errors })`,
          );
          expect(player.recordingId).toBe(recordingId);
          expect(player.errors).toEqual([]);
          const html = await page.content();
          expect(html).not.toContain(TOKEN);
          await mkdir(ARTIFACTS, { recursive: true });
          await page.evaluate(`document.querySelectorAll('section').forEach((s) => { s.scrollLeft = 0; })`);
          await page.screenshot({ path: `${ARTIFACTS}recordings-page.png` });
        } finally {
          await context.close();
        }
      },
      120_000 * scale,
    );

    it(
      'recordings page: plays a live recording from S3, segments straight from the bucket through signed URLs',
      async () => {
        const context = await browser.newContext({
          httpCredentials: { username: 'admin', password: API_KEY },
          viewport: { width: 1280, height: 720 },
        });
        try {
          const page: Page = await context.newPage();
          const fromBucket: string[] = [];
          const playlists: string[] = [];
          page.on('request', (req) => {
            const url = req.url();
            if (url.startsWith(s3Proxy.url)) fromBucket.push(url);
            else if (url.includes('.m3u8')) playlists.push(url);
          });
          // `?play=` asks the page to play as soon as the recording has media (it retries until then).
          await page.goto(`${base}/recordings?play=${s3RecordingId}`);
          const first = await page.waitForFunction(
            `(() => { const v = document.querySelector('video'); return v.currentTime > 0 && !v.paused ? v.currentTime : null; })()`,
            undefined,
            { timeout: 45_000 * scale, polling: 200 },
          );
          const startedAt = (await first.jsonValue()) as number;
          await page.waitForFunction(
            `(() => { const v = document.querySelector('video'); return v.currentTime - ${startedAt} >= 4; })()`,
            undefined,
            { timeout: 45_000 * scale, polling: 250 },
          );
          const player = await page.evaluate<{ recordingId: string; url: string; errors: unknown[] }>(
            `({ recordingId: window.recfleetPlayer.recordingId, url: window.recfleetPlayer.url, errors: window.recfleetPlayer.errors })`,
          );
          expect(player.recordingId).toBe(s3RecordingId);
          expect(player.errors).toEqual([]);
          // The playlist comes from the dashboards (behind the key); every segment from the bucket, signed.
          expect(player.url).toMatch(new RegExp(`^/recordings/media/${s3RecordingId}/`));
          expect(playlists.length).toBeGreaterThan(0);
          expect(playlists.every((u) => u.startsWith(`${base}/recordings/media/`))).toBe(true);
          expect(fromBucket.length).toBeGreaterThan(0);
          for (const url of fromBucket) {
            expect(url).toMatch(/\/recordings\/dash\/[^/?]+_\d{6,}\.ts\?/);
            expect(new URL(url).searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
          }
          const judged = s3Proxy.presigned.filter((r) => fromBucket.some((u) => u.endsWith(r.path)));
          expect(judged.length).toBeGreaterThan(0);
          expect(judged.every((r) => r.status === 200)).toBe(true);
        } finally {
          await context.close();
        }
      },
      120_000 * scale,
    );
  },
);
