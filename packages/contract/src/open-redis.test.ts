import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { openRedis } from './open-redis.js';

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  const deadline = Date.now() + 10_000;
  while (!out.includes('Ready to accept connections')) {
    if (Date.now() > deadline) throw new Error(`redis-server did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return child;
}

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe('openRedis', () => {
  it('reports each outage once, however many reconnect attempts fail, and again after the next one', async () => {
    const port = await freePort();
    const outages: string[] = [];
    let errors = 0;
    const client = openRedis(`redis://127.0.0.1:${port}`, { retryStrategy: () => 20 }, (err) =>
      outages.push(err.message),
    );
    cleanup.push(() => client.disconnect());
    client.on('error', () => errors++);

    // Nothing listens yet: many failed attempts, one report.
    while (errors < 5) await new Promise((r) => setTimeout(r, 10));
    expect(outages).toHaveLength(1);

    const server = await startRedis(port);
    cleanup.push(() => {
      server.kill('SIGKILL');
    });
    if (client.status !== 'ready') await once(client, 'ready');
    expect(await client.ping()).toBe('PONG');

    // The server dies: a new outage, reported once more.
    server.kill('SIGKILL');
    await once(server, 'exit');
    const before = errors;
    while (errors < before + 5) await new Promise((r) => setTimeout(r, 10));
    expect(outages).toHaveLength(2);
  });
});
