import { getEventListeners } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeMediaServerApi } from './node-media-server-api.js';

// A stand-in that answers /api/v1/streams as node-media-server 4.x does, slowly, counting requests:
// what is measured here is how many requests the worker makes, which the real server cannot tell.
let server: Server;
let requests = 0;
let base = '';

beforeAll(async () => {
  server = createServer((_req, res) => {
    requests++;
    setTimeout(() => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ success: true, data: { streams: [], total: 0 } }));
    }, 50);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('NodeMediaServerApi.listStreams', () => {
  it('shares one request among concurrent callers and reuses a fresh answer', async () => {
    const api = new NodeMediaServerApi(base, 'secret', 2000);
    requests = 0;
    await Promise.all(Array.from({ length: 50 }, () => api.listStreams(undefined, 100)));
    expect(requests).toBe(1);
    await api.listStreams(undefined, 1000);
    expect(requests).toBe(1);
    await new Promise((r) => setTimeout(r, 20));
    await api.listStreams(undefined, 0);
    expect(requests).toBe(2);
  });

  it('a caller that gives up does not cancel the shared request for the others', async () => {
    const api = new NodeMediaServerApi(base, 'secret', 2000);
    const abort = new AbortController();
    const giving = api.listStreams(abort.signal);
    const staying = api.listStreams();
    abort.abort(new Error('closed'));
    await expect(giving).rejects.toThrow('closed');
    await expect(staying).resolves.toEqual([]);
  });

  // A membership asks with its one long-lived signal several times a second: a listener left on it per
  // call kept every listing it was added for (found as the channel side's extra memory in bench:channels).
  it("leaves no listener on the caller's signal once an answer has come", async () => {
    const api = new NodeMediaServerApi(base, 'secret', 2000);
    const abort = new AbortController();
    for (let k = 0; k < 20; k++) await api.listStreams(abort.signal, k % 2 === 0 ? 0 : 1000);
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
  });
});
