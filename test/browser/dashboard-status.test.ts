/**
 * What the dashboards tell of the fleet's health, in headless Chromium: Bull Board's Redis panel
 * (`/admin/queues/api/redis/stats`) with the server's figures, and the recordings page's "storage
 * failing (CODE) since …" for a recording whose uploads keep failing (the record's `storageError`,
 * written here as a worker writes it).
 */
import { recordingRedisKeys, storageProfilesKey } from '@recfleet/contract';
import { RedisServer } from '@recfleet/embedded';
import { RecordingClient } from '@recfleet/client';
import { registerDashboards } from '@recfleet/api/dashboard';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchChromium } from './chromium.js';

const scale = Number(process.env.RECFLEET_TEST_TIMEOUT_SCALE ?? 1);
const API_KEY = 'status-key-0123456789';
const auth = { authorization: `Bearer ${API_KEY}` };

let redisServer: RedisServer;
let redis: Redis;
let client: RecordingClient;
let app: FastifyInstance;
let base: string;
let browser: Browser;
let failing: string;
let healthy: string;
const since = Date.UTC(2026, 0, 2, 3, 4, 5);

describe.skipIf(!hasChromium)('dashboards: Redis panel and failing storage', () => {
  beforeAll(async () => {
    redisServer = await RedisServer.start();
    redis = new Redis(redisServer.url);
    await redis.sadd(storageProfilesKey('recfleet'), 'local');
    client = new RecordingClient({ redisUrl: redisServer.url });
    app = Fastify();
    await app.register(registerDashboards, { redisUrl: redisServer.url, client, apiKeys: [API_KEY] });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    const start = (uid: number) =>
      client.start({
        appId: 'dash',
        channel: 'status',
        uid,
        sourceUrl: 'rtmp://127.0.0.1:1/dash/status',
        storage: { profile: 'local' },
      });
    ({ recordingId: failing } = await start(1));
    ({ recordingId: healthy } = await start(2));
    // As the worker writes it while uploads keep failing (its message redacted like any text).
    await redis.hset(
      recordingRedisKeys('recfleet', failing).record,
      'storageError',
      JSON.stringify({
        code: 'STORAGE_AUTH',
        since,
        message: 'access denied for https://k:SECRET@s3.example/x',
      }),
    );
    // Unreadable: read as healthy, never a failure of the page.
    await redis.hset(recordingRedisKeys('recfleet', healthy).record, 'storageError', '{not json');
    browser = await launchChromium();
  }, 60_000 * scale);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await client?.close();
    redis?.disconnect();
    await redisServer?.stop();
  });

  it("Bull Board's Redis panel shows the server's version, mode and clients", async () => {
    const res = await fetch(`${base}/admin/queues/api/redis/stats`, { headers: auth });
    expect(res.status).toBe(200);
    const version = (await redis.info('server')).match(/redis_version:(\S+)/)![1]!;
    expect(await res.json()).toMatchObject({
      backend: 'redis',
      version,
      mode: 'standalone',
      port: redisServer.port,
      clients: { connected: expect.any(Number), blocked: expect.any(Number) },
    });

    const context = await browser.newContext({ httpCredentials: { username: 'admin', password: API_KEY } });
    try {
      const page = await context.newPage();
      const stats = page.waitForResponse((r) => r.url().endsWith('/api/redis/stats'), {
        timeout: 30_000 * scale,
      });
      await page.goto(`${base}/admin/queues`);
      // The header's Redis button (Bull Board draws the Redis logo in it, classes rds-*) opens the panel.
      await page
        .locator('button:has(svg .rds-b1)')
        .first()
        .click({ timeout: 30_000 * scale });
      expect((await stats).status()).toBe(200);
      await page
        .getByText('Redis details')
        .first()
        .waitFor({ timeout: 10_000 * scale });
      await page
        .getByText(version, { exact: true })
        .first()
        .waitFor({ timeout: 10_000 * scale });
      const text = await page.locator('body').innerText();
      expect(text).toMatch(/Connected clients/);
      expect(text).not.toMatch(/cannot reach Redis|not available/i);
    } finally {
      await context.close();
    }
  });

  it('the recordings page shows "storage failing (CODE) since …" for a recording whose uploads fail', async () => {
    const list = (await (await fetch(`${base}/recordings/api/recordings`, { headers: auth })).json()) as {
      recordings: { recordingId: string; storageStatus?: string; storageError?: { message: string } }[];
    };
    const row = list.recordings.find((r) => r.recordingId === failing)!;
    const text = `storage failing (STORAGE_AUTH) since ${new Date(since).toISOString()}`;
    expect(row.storageStatus).toBe(text);
    expect(row.storageError?.message).not.toContain('SECRET');
    expect(list.recordings.find((r) => r.recordingId === healthy)!.storageStatus).toBeUndefined();

    const context = await browser.newContext({ httpCredentials: { username: 'admin', password: API_KEY } });
    try {
      const page = await context.newPage();
      await page.goto(`${base}/recordings`);
      const failingRow = page.locator(`tr[data-recording-id="${failing}"]`);
      await failingRow.waitFor({ timeout: 20_000 * scale });
      await expect.poll(() => failingRow.innerText(), { timeout: 10_000 * scale }).toContain(text);
      expect(await page.locator(`tr[data-recording-id="${healthy}"]`).innerText()).not.toContain('failing');
    } finally {
      await context.close();
    }
  });
});
