import { accessSync, constants } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './free-port.js';
import { ManagedProcess } from './managed-process.js';
import { RedisServer } from './redis-server.js';

export interface RedisSentinelTopologyOptions {
  /** The name the sentinels monitor the primary under (the path of a `redis+sentinel://` URL). */
  primaryName?: string;
  /** Sentinel processes (default 3). */
  sentinels?: number;
  /** Sentinels that must agree the primary is down before a failover (default 2). */
  quorum?: number;
  /** How long a primary may not answer before a sentinel deems it down (default 1000 ms). */
  downAfterMs?: number;
  /** Sentinel's `failover-timeout` (default 5000 ms). */
  failoverTimeoutMs?: number;
  /**
   * The port the replica dials to reach the primary (default: the primary's own). A test passes a
   * proxy's port here to hold back the replication stream and make a failover lose writes for real.
   */
  replicaLink?: (primaryPort: number) => Promise<number>;
  dir?: string;
}

/** One redis-server of the topology. */
export interface RedisDataNode {
  readonly port: number;
  readonly process: ManagedProcess;
}

/** A Redis command failed, or a sentinel topology did not reach the state a caller waited for. */
export class RedisTopologyError extends Error {
  readonly code = 'REDIS_TOPOLOGY' as const;
  constructor(
    message: string,
    /** A process of the topology died: waiting longer cannot help. */
    readonly fatal = false,
  ) {
    super(message);
    this.name = 'RedisTopologyError';
  }
}

const SENTINEL_BINARY = 'redis-sentinel';

/**
 * A Redis Sentinel deployment from the system binaries, on free loopback ports: a primary and a replica
 * (AOF on, `noeviction`, as production should run them) watched by sentinels. Every process is our
 * child, so `stop()` (or the test runner ending) leaves nothing behind. Short detection times make a
 * failover take a few seconds instead of Sentinel's default half-minute.
 */
export class RedisSentinelTopology {
  readonly nodes: RedisDataNode[] = [];
  readonly sentinelPorts: number[] = [];
  private readonly sentinelProcs: ManagedProcess[] = [];
  private ownsDir = false;

  private constructor(
    readonly dir: string,
    readonly primaryName: string,
  ) {}

  /** Whether `redis-sentinel` is on PATH (Debian ships it in its own package). */
  static available(): boolean {
    for (const d of (process.env.PATH ?? '').split(delimiter)) {
      try {
        accessSync(join(d, SENTINEL_BINARY), constants.X_OK);
        return true;
      } catch {
        // not in this directory
      }
    }
    return false;
  }

  static async start(options: RedisSentinelTopologyOptions = {}): Promise<RedisSentinelTopology> {
    const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'recfleet-sentinel-')));
    const topology = new RedisSentinelTopology(dir, options.primaryName ?? 'recfleet-primary');
    topology.ownsDir = options.dir === undefined;
    try {
      await topology.launch(options);
    } catch (err) {
      await topology.stop();
      throw err;
    }
    return topology;
  }

  /** The URL workers and producers connect with. */
  get url(): string {
    const hosts = this.sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',');
    return `redis+sentinel://${hosts}/${this.primaryName}`;
  }

  private async launch(options: RedisSentinelTopologyOptions): Promise<void> {
    const primaryPort = await freePort();
    this.nodes.push(await this.startDataNode(primaryPort, 'node-0', []));
    const replicaPort = await freePort();
    const link = options.replicaLink ? await options.replicaLink(primaryPort) : primaryPort;
    this.nodes.push(
      await this.startDataNode(replicaPort, 'node-1', ['--replicaof', '127.0.0.1', String(link)]),
    );
    // Sentinels learn the replicas from the primary's INFO: start them once the replica is attached,
    // so that they know a promotion candidate from their first look.
    await waitFor(
      async () => (await info(replicaPort, 'replication')).includes('master_link_status:up'),
      15_000,
      `replica on ${replicaPort} did not sync with the primary on ${primaryPort}`,
    );

    const count = options.sentinels ?? 3;
    const quorum = options.quorum ?? 2;
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      const sdir = join(this.dir, `sentinel-${i}`);
      await mkdir(sdir, { recursive: true });
      const conf = join(sdir, 'sentinel.conf');
      // Sentinel rewrites its config file with what it learns (peers, epochs): it must be its own file.
      await writeFile(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          'daemonize no',
          `dir ${sdir}`,
          'loglevel notice',
          `sentinel monitor ${this.primaryName} 127.0.0.1 ${primaryPort} ${quorum}`,
          `sentinel down-after-milliseconds ${this.primaryName} ${options.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${this.primaryName} ${options.failoverTimeoutMs ?? 5000}`,
          `sentinel parallel-syncs ${this.primaryName} 1`,
          '',
        ].join('\n'),
      );
      const proc = new ManagedProcess(`redis-sentinel-${i}`, SENTINEL_BINARY, [conf]);
      this.sentinelProcs.push(proc);
      this.sentinelPorts.push(port);
      await waitFor(
        async () => {
          if (!proc.running) throw new RedisTopologyError(`sentinel ${i} exited:\n${proc.output()}`, true);
          return (await command(port, ['PING']).catch(() => '')) === 'PONG';
        },
        10_000,
        `sentinel ${i} on ${port} did not answer PING`,
      );
    }
    // Ready when every sentinel knows the replica and the other sentinels (hello messages every 2 s):
    // before that, a failover could not reach quorum or would have no candidate.
    await waitFor(
      async () => {
        for (const port of this.sentinelPorts) {
          const state = toRecord(await command(port, ['SENTINEL', 'MASTER', this.primaryName]));
          if (Number(state['num-slaves']) < 1 || Number(state['num-other-sentinels']) < count - 1) {
            return false;
          }
        }
        return true;
      },
      20_000,
      'the sentinels did not discover the replica and each other',
    );
  }

  private async startDataNode(port: number, name: string, extra: string[]): Promise<RedisDataNode> {
    // What docs/operations.md asks of production: AOF fsynced every second, nothing evicted.
    const server = await RedisServer.start({
      port,
      dir: join(this.dir, name),
      appendOnly: true,
      appendFsync: 'everysec',
      extraArgs: extra,
      name: `redis-server ${name}`,
    });
    return { port, process: server.process! };
  }

  /** The port of the primary, as the first sentinel that answers names it. */
  async primaryPort(): Promise<number> {
    let lastError: unknown;
    for (const port of this.sentinelPorts) {
      try {
        const reply = await command(port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.primaryName]);
        if (Array.isArray(reply) && typeof reply[1] === 'string') return Number(reply[1]);
      } catch (err) {
        lastError = err;
      }
    }
    throw new RedisTopologyError(`no sentinel named a primary: ${String(lastError)}`);
  }

  /** The data node on `port`. */
  node(port: number): RedisDataNode {
    const node = this.nodes.find((n) => n.port === port);
    if (!node) throw new RedisTopologyError(`no data node on port ${port}`);
    return node;
  }

  /** `INFO <section>` of a data node, as text. */
  info(port: number, section: string): Promise<string> {
    return info(port, section);
  }

  /** Ends the current primary at once (SIGKILL: no AOF flush, no goodbye); returns its port. */
  async killPrimary(): Promise<number> {
    const port = await this.primaryPort();
    await this.node(port).process.kill();
    return port;
  }

  /**
   * Waits until every live sentinel names a primary other than `formerPort` and that node answers as
   * a primary; returns its port.
   */
  async waitForFailover(formerPort: number, timeoutMs = 30_000): Promise<number> {
    let promoted = 0;
    await waitFor(
      async () => {
        const named = new Set<number>();
        for (const [i, port] of this.sentinelPorts.entries()) {
          if (!this.sentinelProcs[i]?.running) continue;
          const reply = await command(port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.primaryName]);
          named.add(Array.isArray(reply) ? Number(reply[1]) : 0);
        }
        const [candidate] = [...named];
        if (named.size !== 1 || candidate === undefined || candidate === formerPort) return false;
        if (!(await info(candidate, 'replication')).includes('role:master')) return false;
        promoted = candidate;
        return true;
      },
      timeoutMs,
      `the sentinels did not promote a new primary within ${timeoutMs} ms`,
    );
    return promoted;
  }

  /** Stops every process (sentinels first, so that they do not react to the data nodes going away). */
  async stop(): Promise<void> {
    for (const p of this.sentinelProcs) await p.stop('SIGTERM', 3000).catch(() => undefined);
    for (const n of this.nodes) await n.process.stop('SIGTERM', 3000).catch(() => undefined);
    if (this.ownsDir) await rm(this.dir, { recursive: true, force: true });
  }
}

async function info(port: number, section: string): Promise<string> {
  const reply = await command(port, ['INFO', section]);
  return typeof reply === 'string' ? reply : '';
}

type Reply = string | number | null | Reply[];

/** Sends one command over a fresh connection and returns the decoded RESP2 reply. */
function command(port: number, args: string[], timeoutMs = 2000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let buffer = Buffer.alloc(0);
    const finish = (err: Error | undefined, value?: Reply): void => {
      sock.destroy();
      if (err) reject(err);
      else resolve(value ?? null);
    };
    sock.setTimeout(timeoutMs, () => finish(new RedisTopologyError(`no answer on port ${port}`)));
    sock.on('error', (err) => finish(err));
    sock.on('connect', () => {
      const parts = args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`);
      sock.write(`*${args.length}\r\n${parts.join('')}`);
    });
    sock.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      try {
        const parsed = parseReply(buffer, 0);
        if (parsed) finish(undefined, parsed.value);
      } catch (err) {
        finish(err as Error);
      }
    });
  });
}

/** Decodes one RESP2 reply from `buf` at `at`; undefined when more bytes are needed. */
function parseReply(buf: Buffer, at: number): { value: Reply; end: number } | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol === -1) return undefined;
  const head = buf.toString('utf8', at + 1, eol);
  switch (String.fromCharCode(buf[at] ?? 0)) {
    case '+':
      return { value: head, end: eol + 2 };
    case '-':
      throw new RedisTopologyError(head);
    case ':':
      return { value: Number(head), end: eol + 2 };
    case '$': {
      const len = Number(head);
      if (len < 0) return { value: null, end: eol + 2 };
      if (buf.length < eol + 2 + len + 2) return undefined;
      return { value: buf.toString('utf8', eol + 2, eol + 2 + len), end: eol + 2 + len + 2 };
    }
    case '*': {
      const n = Number(head);
      if (n < 0) return { value: null, end: eol + 2 };
      const items: Reply[] = [];
      let pos = eol + 2;
      for (let i = 0; i < n; i++) {
        const item = parseReply(buf, pos);
        if (!item) return undefined;
        items.push(item.value);
        pos = item.end;
      }
      return { value: items, end: pos };
    }
    default:
      throw new RedisTopologyError(`unexpected reply: ${head}`);
  }
}

/** A flat [field, value, …] reply as an object. */
function toRecord(reply: Reply): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      if (err instanceof RedisTopologyError && err.fatal) throw err;
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new RedisTopologyError(`${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
}
