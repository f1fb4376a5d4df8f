import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ManagedProcess } from '@recfleet/embedded';

/**
 * Several "hosts" on one Linux machine for multi-host tests: each is a network namespace with its own
 * interfaces, routes and ports, joined to a services namespace by a veth pair whose outer end is a
 * port of a bridge there — one switch, one cable per host. Everything (bridge, cables, addresses)
 * lives inside the namespaces: the machine's own network is not touched, so parallel runs and other
 * work on the machine cannot collide with a lab. Pulling a cable (`cut`) is the switch port going
 * down: the host hears nothing and nothing errors at once, as on a real partition.
 */

/** Namespaces are `recfleet-lab-<pid>-<role>`: the pid keeps parallel runs apart and finds stale ones. */
const NS_PREFIX = 'recfleet-lab-';

/**
 * Ports the services host answers on (its namespace is private, so fixed ports cannot clash). `api` is
 * the channel server's HTTP API, where a channel recording's worker finds the channel's users.
 */
export const SERVICE_PORTS = { redis: 6379, rtmp: 1935, s3: 9000, api: 8000 } as const;
export type ServiceName = keyof typeof SERVICE_PORTS;
/** The services whose process the lab can end and start again (`LabServices.down` / `up`). */
export type StoppableService = 'redis' | 's3';

/** What the services host (`netns-services-main`) runs. */
export interface ServicesSpec {
  /** The services namespace's address on the lab's LAN. */
  listenHost: string;
  /** Where `<service>.sock` files are created for the test process. */
  socketDir: string;
  s3Dir: string;
  bucket: string;
  channels: { app: string; channel: string }[];
  publisher: { width: number; height: number; frameRate: number; gop: number };
  /** Users of channels, each publishing on their own stream path (what channel recordings record). */
  users?: { app: string; channel: string; uid: number }[];
  /** The channel server's API secret (`channelDirectory.apiSecret` of the workers). */
  channelApiSecret: string;
  /** Redis keeps its data across a crash (AOF, fsync always), for labs that crash it (`down`). */
  durableRedis?: boolean;
}

/** A line on the services host's control socket: hold or release one host's traffic to a service. */
export interface HoldCommand {
  op: 'hold' | 'release';
  service: ServiceName;
  /** The client host's address. */
  from: string;
}

/**
 * A line on the services host's control socket: a service's process ends at once for everyone (`down`:
 * Redis is killed with SIGKILL, s3rver is closed with every connection to it cut) or starts again on
 * the same port from the data it left (`up`: Redis from its AOF, s3rver from its directory).
 */
export interface OutageCommand {
  op: 'down' | 'up';
  service: StoppableService;
}

export type ServicesCommand = HoldCommand | OutageCommand;

export class NetnsCommandError extends Error {
  readonly code = 'NETNS_COMMAND_FAILED' as const;
  constructor(
    readonly args: string[],
    readonly stderr: string,
  ) {
    super(`ip ${args.join(' ')} failed: ${stderr.trim()}`);
    this.name = 'NetnsCommandError';
  }
}

function ip(...args: string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error) throw new NetnsCommandError(args, r.error.message);
  if (r.status !== 0) throw new NetnsCommandError(args, r.stderr);
  return r.stdout;
}

/**
 * Why this machine cannot run namespace tests (not Linux, not root, no iproute2, namespaces refused —
 * e.g. an unprivileged container), or undefined when it can: it really creates and deletes one.
 */
export function netnsUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces exist on Linux only';
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root (ip netns add)';
  const probe = `${NS_PREFIX}${process.pid}-probe`;
  try {
    ip('netns', 'add', probe);
    ip('-n', probe, 'link', 'add', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1');
  } catch (err) {
    return (err as Error).message;
  } finally {
    spawnSync('ip', ['netns', 'del', probe]);
  }
  return undefined;
}

function listNamespaces(): string[] {
  return ip('netns', 'list')
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Ends every process still inside `ns` and deletes it. Synchronous, so it can run in an exit handler.
 * A namespace is only freed once no process is left in it; deleting its name alone would leave it
 * (and its cables) alive and invisible.
 */
function removeNamespace(ns: string): void {
  const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
    .stdout.split('\n')
    .map(Number)
    .filter((p) => Number.isInteger(p) && p > 0);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  spawnSync('ip', ['netns', 'del', ns]);
}

/** Labs of test runs that were killed before they could clean up (their pid is gone). */
function sweepStaleNamespaces(): void {
  for (const ns of listNamespaces()) {
    const owner = new RegExp(`^${NS_PREFIX}(\\d+)-`).exec(ns)?.[1];
    if (owner !== undefined && Number(owner) !== process.pid && !isAlive(Number(owner))) removeNamespace(ns);
  }
}

/**
 * What this process must still remove — namespaces (with what runs in them) and data directories — also
 * when it exits without `destroy()`.
 */
const leftovers = { namespaces: new Set<string>(), dirs: new Set<string>() };
let exitHandlerInstalled = false;
function track(item: { ns: string } | { dir: string }): void {
  if ('ns' in item) leftovers.namespaces.add(item.ns);
  else leftovers.dirs.add(item.dir);
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  const removeAll = (): void => {
    for (const n of [...leftovers.namespaces].reverse()) removeNamespace(n);
    for (const d of leftovers.dirs) rmSync(d, { recursive: true, force: true });
    leftovers.namespaces.clear();
    leftovers.dirs.clear();
  };
  process.once('exit', removeAll);
  // These signals end a process without running 'exit' handlers (a Ctrl-C, a test runner giving up):
  // clean up, then let the signal do what it would have done without us (a test runner's worker may
  // stub process.exit, so re-raise instead).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      removeAll();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

export interface LabHost {
  name: string;
  ns: string;
  address: string;
  /** The host's port on the bridge, in the services namespace. */
  switchPort: string;
}

export interface LabServices {
  /** For worker hosts: the services host's LAN address. */
  redisUrl: string;
  /** The channel server, `rtmp://<LAN address>:<port>` (a stream is `<base>/<app>/<stream name>`). */
  rtmpBaseUrl: string;
  s3Endpoint: string;
  /** The channel server's HTTP API (`http://<LAN address>:<port>`, under `/api/v1`). */
  apiUrl: string;
  /** A worker's `channelDirectory` for the services host's channel server. */
  channelDirectory: Record<string, unknown>;
  /** For the test process (root namespace), through the services host's Unix sockets. */
  local: { redisUrl: string; s3Endpoint: string };
  process: ManagedProcess;
  /**
   * Stalls `host`'s connections to `service` (open and new ones, both ways, none closed) until
   * `release`: a store that stops answering one host while the rest of the fleet is served.
   */
  hold(service: ServiceName, host: LabHost): Promise<void>;
  release(service: ServiceName, host: LabHost): Promise<void>;
  /**
   * Ends the service's process for everyone, as a crash would (Redis: kill -9; s3rver: closed, its
   * connections cut); resolves once it is gone. `up` starts it again on the same port from its data and
   * resolves once it answers. Redis keeps its data only when the lab was started with `durableRedis`.
   */
  down(service: StoppableService): Promise<void>;
  up(service: StoppableService): Promise<void>;
}

export class NetnsLab {
  private readonly hosts = new Map<string, LabHost>();
  private readonly relays: UnixSocketRelay[] = [];
  private services: ManagedProcess | undefined;
  private destroyed = false;

  private constructor(
    /** `recfleet-lab-<pid>`: the prefix of every namespace of this lab. */
    readonly id: string,
    /** First three octets of the lab's /24; the pid picks it so logs of parallel runs differ. */
    readonly subnet: string,
    readonly dir: string,
  ) {}

  static async create(): Promise<NetnsLab> {
    sweepStaleNamespaces();
    const id = `${NS_PREFIX}${process.pid}`;
    const lab = new NetnsLab(
      id,
      `10.213.${(process.pid % 250) + 1}`,
      await mkdtemp(join(tmpdir(), 'recfleet-netns-')),
    );
    track({ dir: lab.dir });
    const ns = lab.servicesNs;
    track({ ns });
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', ns, 'addr', 'add', `${lab.servicesAddress}/24`, 'dev', 'br0');
    ip('-n', ns, 'link', 'set', 'br0', 'up');
    return lab;
  }

  get servicesNs(): string {
    return `${this.id}-svc`;
  }

  get servicesAddress(): string {
    return `${this.subnet}.1`;
  }

  /** The command prefix that runs a program on `ns`. */
  launcher(ns: string): string[] {
    return ['ip', 'netns', 'exec', ns];
  }

  /** A new host: its own namespace, cabled to the switch, with the next address of the LAN. */
  addHost(name: string): LabHost {
    if (!/^[a-z0-9]{1,8}$/.test(name)) throw new RangeError(`host name "${name}": 1–8 of a-z 0-9`);
    if (this.hosts.has(name)) throw new RangeError(`host "${name}" exists`);
    const index = this.hosts.size + 1;
    const host: LabHost = {
      name,
      ns: `${this.id}-${name}`,
      address: `${this.subnet}.${10 + index}`,
      switchPort: `p${index}`,
    };
    track({ ns: host.ns });
    ip('netns', 'add', host.ns);
    ip('-n', host.ns, 'link', 'set', 'lo', 'up');
    // Both ends are created inside namespaces: the root namespace never sees the cable.
    ip(
      '-n',
      this.servicesNs,
      'link',
      'add',
      host.switchPort,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      host.ns,
    );
    ip('-n', this.servicesNs, 'link', 'set', host.switchPort, 'master', 'br0');
    ip('-n', this.servicesNs, 'link', 'set', host.switchPort, 'up');
    ip('-n', host.ns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0');
    ip('-n', host.ns, 'link', 'set', 'eth0', 'up');
    this.hosts.set(name, host);
    return host;
  }

  private host(name: string): LabHost {
    const h = this.hosts.get(name);
    if (!h) throw new RangeError(`no host "${name}"`);
    return h;
  }

  /**
   * Pulls the host's cable: its switch port goes down. Packets both ways are dropped; open connections
   * stall (no RST, no FIN) and new ones fail only when address resolution gives up, seconds later.
   */
  cut(name: string): void {
    ip('-n', this.servicesNs, 'link', 'set', this.host(name).switchPort, 'down');
  }

  /** Plugs the cable back in: stalled connections carry on with what they held back. */
  restore(name: string): void {
    ip('-n', this.servicesNs, 'link', 'set', this.host(name).switchPort, 'up');
  }

  /**
   * Starts the services host (Redis, channel server with publishers, s3rver) in the services namespace,
   * and local relays to it for the test process. Needs the test package built (its `dist`).
   */
  async startServices(
    options: Pick<ServicesSpec, 'bucket' | 'channels' | 'publisher' | 'users' | 'durableRedis'>,
  ): Promise<LabServices> {
    const main = fileURLToPath(new URL('../../dist/harness/netns-services-main.js', import.meta.url));
    if (!existsSync(main)) {
      throw new Error(`${main} is missing: build the test package first (npm run build:ts)`);
    }
    const socketDir = join(this.dir, 'sockets');
    await mkdir(socketDir, { recursive: true });
    const spec: ServicesSpec = {
      ...options,
      listenHost: this.servicesAddress,
      socketDir,
      s3Dir: join(this.dir, 's3'),
      channelApiSecret: randomBytes(32).toString('hex'),
    };
    const argv = [...this.launcher(this.servicesNs), process.execPath, main, JSON.stringify(spec)];
    const proc = new ManagedProcess('services host', argv[0]!, argv.slice(1));
    this.services = proc;
    await proc.waitForLine((l) => l.includes('"event":"ready"'), 90_000);
    const redisRelay = await UnixSocketRelay.start(join(socketDir, 'redis.sock'));
    const s3Relay = await UnixSocketRelay.start(join(socketDir, 's3.sock'));
    this.relays.push(redisRelay, s3Relay);
    const a = this.servicesAddress;
    const control = join(socketDir, 'control.sock');
    const command = (op: HoldCommand['op']) => (service: ServiceName, host: LabHost) =>
      sendControl(control, { op, service, from: host.address });
    const outage = (op: OutageCommand['op']) => (service: StoppableService) =>
      sendControl(control, { op, service });
    const apiUrl = `http://${a}:${SERVICE_PORTS.api}`;
    const rtmpBaseUrl = `rtmp://${a}:${SERVICE_PORTS.rtmp}`;
    return {
      hold: command('hold'),
      release: command('release'),
      down: outage('down'),
      up: outage('up'),
      redisUrl: `redis://${a}:${SERVICE_PORTS.redis}`,
      rtmpBaseUrl,
      s3Endpoint: `http://${a}:${SERVICE_PORTS.s3}`,
      apiUrl,
      channelDirectory: {
        type: 'node-media-server',
        rtmpUrl: rtmpBaseUrl,
        apiUrl,
        apiSecret: spec.channelApiSecret,
        pollIntervalMs: 250,
      },
      local: {
        redisUrl: `redis://127.0.0.1:${redisRelay.port}`,
        s3Endpoint: `http://127.0.0.1:${s3Relay.port}`,
      },
      process: proc,
    };
  }

  /** This lab's namespaces the system still lists. */
  remaining(): string[] {
    return listNamespaces().filter((n) => n.startsWith(`${this.id}-`));
  }

  /**
   * Stops the services host, closes the relays and removes every namespace with whatever still runs
   * in it (workers are expected to be stopped by the test first). Safe to call twice; every step runs.
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await this.services?.stop('SIGTERM', 10_000).catch(() => undefined);
    for (const r of this.relays) await r.close().catch(() => undefined);
    const namespaces = [...[...this.hosts.values()].map((h) => h.ns), this.servicesNs];
    for (const ns of namespaces) {
      removeNamespace(ns);
      leftovers.namespaces.delete(ns);
    }
    await rm(this.dir, { recursive: true, force: true });
    leftovers.dirs.delete(this.dir);
  }
}

function sendControl(path: string, cmd: ServicesCommand): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    // Starting Redis again includes loading its AOF: on a loaded machine that takes seconds.
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`services host did not answer ${JSON.stringify(cmd)}`));
    }, 30_000);
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.once('data', (answer: Buffer) => {
      clearTimeout(timer);
      sock.end();
      const text = answer.toString('utf8').trim();
      if (text === 'ok') resolve();
      else reject(new Error(`services host: ${JSON.stringify(cmd)} failed: ${text}`));
    });
    sock.write(`${JSON.stringify(cmd)}\n`);
  });
}

/**
 * A TCP listener on the root namespace's loopback that forwards to a Unix socket: lets clients that only
 * speak TCP (ioredis URLs, the S3 client) reach a service in another namespace without giving the root
 * namespace an address on the lab's LAN.
 */
export class UnixSocketRelay {
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly sockets: Set<Socket>,
  ) {}

  static async start(path: string): Promise<UnixSocketRelay> {
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      const upstream = connect(path);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => end()).on('close', () => end());
      }
      const end = (): void => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const address = server.address();
    return new UnixSocketRelay(server, typeof address === 'object' && address ? address.port : 0, sockets);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
