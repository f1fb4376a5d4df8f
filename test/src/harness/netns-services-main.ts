/**
 * The "services host" of a multi-host test: run inside its own network namespace (`ip netns exec`),
 * it starts a private Redis, the channel server with one test publisher per channel, and s3rver, all
 * on its loopback as the embedded package starts them, and makes each reachable two ways:
 *   - on the namespace's LAN address at a well-known port (what worker hosts connect to), and
 *   - on a Unix socket in a shared directory (what the test process, in the root namespace, uses:
 *     socket files cross network namespaces, so the root namespace needs no address on the test LAN).
 * It can also hold back one host's traffic to one service, and end Redis or s3rver for everyone and
 * start it again (see `control`).
 * argv: one JSON `ServicesSpec`. Prints `{"event":"ready"}` once everything is up; SIGTERM stops all.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { ChannelServer, ChannelUserPublisher, RedisServer, TestPublisher } from '@recfleet/embedded';
// @ts-expect-error s3rver ships no type declarations
import S3rver from 's3rver';
import {
  SERVICE_PORTS,
  type HoldCommand,
  type OutageCommand,
  type ServiceName,
  type ServicesCommand,
  type ServicesSpec,
} from './netns.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as ServicesSpec;
const servers: Server[] = [];

interface Link {
  service: ServiceName;
  /** The client's address ('' over a Unix socket). */
  from: string;
  client: Socket;
  upstream: Socket;
}
const links = new Set<Link>();
/** `<service> <address>` pairs whose traffic is held back (see `HoldCommand`). */
const held = new Set<string>();

function hold(link: Link): void {
  link.client.unpipe(link.upstream);
  link.upstream.unpipe(link.client);
  link.client.pause();
  link.upstream.pause();
}

function pass(link: Link): void {
  link.client.pipe(link.upstream);
  link.upstream.pipe(link.client);
  link.client.resume();
  link.upstream.resume();
}

/** Forwards every connection accepted by `server` to 127.0.0.1:`port`. */
function forward(server: Server, service: ServiceName, port: number): Server {
  server.on('connection', (client: Socket) => {
    const upstream = connect(port, '127.0.0.1');
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const link: Link = { service, from: client.remoteAddress ?? '', client, upstream };
    links.add(link);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      links.delete(link);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    if (held.has(`${service} ${link.from}`)) hold(link);
    else pass(link);
  });
  servers.push(server);
  return server;
}

function holdOrRelease(cmd: HoldCommand): void {
  const key = `${cmd.service} ${cmd.from}`;
  if (cmd.op === 'hold') held.add(key);
  else held.delete(key);
  for (const link of links) {
    if (link.service !== cmd.service || link.from !== cmd.from) continue;
    if (cmd.op === 'hold') hold(link);
    else pass(link);
  }
}

/**
 * A service's process ends for everyone, or starts again. While it is down the forwarders still accept
 * connections and reset each one (nothing listens behind them), as a host whose server process died
 * does; Redis dies with SIGKILL (no AOF rewrite, no goodbye to clients), s3rver is closed after every
 * connection to it is cut (a closing HTTP server would otherwise wait for its keep-alive clients).
 */
async function downOrUp(cmd: OutageCommand): Promise<void> {
  if (cmd.service === 'redis') {
    if (cmd.op === 'down') await redis.kill();
    else await redis.restart();
    return;
  }
  if (cmd.op === 'down') {
    for (const l of links) {
      if (l.service !== 's3') continue;
      l.client.destroy();
      l.upstream.destroy();
      links.delete(l);
    }
    await s3.close();
  } else {
    s3 = startS3(s3Port);
    await s3.run();
  }
}

async function carryOut(cmd: ServicesCommand): Promise<void> {
  switch (cmd.op) {
    case 'hold':
    case 'release':
      return holdOrRelease(cmd);
    case 'down':
    case 'up':
      return downOrUp(cmd);
  }
}

/**
 * The test's control socket: one JSON `ServicesCommand` per line, answered `ok` once done (or
 * `error: …`), in order. Holding a service for one client address stalls that host's connections to
 * it (open and new ones, both ways, nothing closed), as a store that stops answering one host would.
 */
function control(): Server {
  const server = createServer((sock) => {
    let buffer = '';
    let chain = Promise.resolve();
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        const cmd = JSON.parse(line) as ServicesCommand;
        chain = chain
          .then(() => carryOut(cmd))
          .then(
            () => void sock.write('ok\n'),
            (err: unknown) => void sock.write(`error: ${(err as Error).message}\n`),
          );
      }
    });
  });
  servers.push(server);
  return server;
}

function listen(server: Server, target: { port: number; host: string } | string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    if (typeof target === 'string') server.listen(target, resolve);
    else server.listen(target.port, target.host, resolve);
  });
}

type S3rverInstance = { run(): Promise<{ port: number }>; close(): Promise<void> };
function startS3(port: number): S3rverInstance {
  return new S3rver({
    address: '127.0.0.1',
    port,
    directory: spec.s3Dir,
    silent: true,
    configureBuckets: [{ name: spec.bucket }],
  }) as S3rverInstance;
}

const redis = await RedisServer.start(spec.durableRedis ? { appendOnly: true } : {});
// Recordings of fixed channels and of channels' users: the hosts pull them without channel tokens.
const channels = await ChannelServer.start({ playAuth: false, apiSecret: spec.channelApiSecret });
let s3 = startS3(0);
const { port: s3Port } = await s3.run();
const publishers = spec.channels.map(({ app, channel }) =>
  TestPublisher.start({ url: channels.rtmpUrl(app, channel), ...spec.publisher }),
);
await Promise.all(spec.channels.map(({ app, channel }) => channels.waitForPublish(app, channel)));
const users = await Promise.all(
  (spec.users ?? []).map(({ app, channel, uid }) =>
    ChannelUserPublisher.start({ server: channels, appId: app, channel, uid, ...spec.publisher }),
  ),
);

const local: Record<ServiceName, number> = {
  redis: redis.port,
  rtmp: channels.port,
  s3: s3Port,
  api: channels.httpPort,
};
for (const name of Object.keys(SERVICE_PORTS) as ServiceName[]) {
  await listen(forward(createServer(), name, local[name]), {
    port: SERVICE_PORTS[name],
    host: spec.listenHost,
  });
  await listen(forward(createServer(), name, local[name]), join(spec.socketDir, `${name}.sock`));
}
await listen(control(), join(spec.socketDir, 'control.sock'));
process.stdout.write(`${JSON.stringify({ event: 'ready' })}\n`);

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Every step runs even when one fails: nothing of this host may outlive it.
  const steps: (() => Promise<unknown>)[] = [
    async () => {
      for (const l of links) {
        l.client.destroy();
        l.upstream.destroy();
      }
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
    () => Promise.all(publishers.map((p) => p.stop())),
    () => Promise.all(users.map((u) => u.stop())),
    () => channels.stop(),
    () => s3.close(),
    () => redis.stop(),
  ];
  for (const step of steps) await step().catch(() => undefined);
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
// The test process may die without stopping us (a crash, a killed test run): then stop on our own.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void shutdown();
}, 1000).unref();
