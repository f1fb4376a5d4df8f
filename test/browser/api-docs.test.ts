/**
 * The API's documentation as people read it: `/docs` in headless Chromium renders every operation of
 * the OpenAPI document (Swagger UI, served from the API itself: no key, nothing fetched from elsewhere),
 * and an operation opens to its parameters and answers.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buildApiServer } from '@recfleet/api';
import { RecordingClient } from '@recfleet/client';
import { RedisServer } from '@recfleet/embedded';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchChromium } from './chromium.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts');

let redisServer: RedisServer;
let client: RecordingClient;
let app: FastifyInstance;
let base: string;
let browser: Browser;

describe.skipIf(!hasChromium)('the API documentation page', () => {
  beforeAll(async () => {
    redisServer = await RedisServer.start();
    client = new RecordingClient({ redisUrl: redisServer.url });
    app = buildApiServer({ client, apiKeys: ['docs-key-0123456789abcdef'] });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await client?.close();
    await redisServer?.stop();
  });

  it('lists every operation of /openapi.json and opens one', async () => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { operationId: string }>>;
    };
    const operations = Object.values(doc.paths).flatMap((p) => Object.values(p).map((o) => o.operationId));
    const page = await browser.newPage();
    const outside: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(base) && !r.url().startsWith('data:')) outside.push(r.url());
    });
    await page.goto(`${base}/docs`);
    await page.waitForSelector('.opblock', { timeout: 15_000 });
    expect(await page.locator('.opblock').count()).toBe(operations.length);
    expect(await page.locator('.info .title').innerText()).toContain('recfleet API');

    await page.locator('.opblock-summary', { hasText: 'List recordings' }).first().click();
    const list = page.locator('.opblock.is-open');
    await expect.poll(() => list.locator('.parameters').innerText(), { timeout: 10_000 }).toContain('limit');
    expect(await list.innerText()).toContain('application/problem+json');
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'api-docs.png'), fullPage: true });
    expect(outside).toEqual([]);
    await page.close();
  });
});
