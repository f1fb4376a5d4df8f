import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { ManagedProcess } from './managed-process.js';

export interface RedisServerOptions {
  /** Keep data across restarts (AOF), for tests that restart Redis and expect data back. */
  appendOnly?: boolean;
  /** How the AOF is synced (default `always`: a test's restart loses nothing; production uses `everysec`). */
  appendFsync?: 'always' | 'everysec';
  port?: number;
  dir?: string;
  /** Arguments added after recfleet's own (e.g. `--replicaof host port`). */
  extraArgs?: readonly string[];
  /** The process's name in errors and logs (default `redis-server`). */
  name?: string;
}

/**
 * A private redis-server from the system binary, on a free loopback port. It runs in the foreground as
 * our child (not daemonized) so that it cannot outlive the demo or test that started it.
 */
export class RedisServer {
  private proc: ManagedProcess | undefined;
  private ownsDir = false;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly options: RedisServerOptions,
  ) {}

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const port = options.port ?? (await freePort());
    const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'recfleet-redis-')));
    const server = new RedisServer(port, dir, options);
    server.ownsDir = options.dir === undefined;
    await server.launch();
    return server;
  }

  /** The running redis-server process (undefined before the first start). */
  get process(): ManagedProcess | undefined {
    return this.proc;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  private async launch(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      this.options.appendOnly ? 'yes' : 'no',
      '--appendfsync',
      this.options.appendFsync ?? 'always',
      '--dir',
      this.dir,
      '--daemonize',
      'no',
      // BullMQ needs every key kept: eviction would silently drop jobs.
      '--maxmemory-policy',
      'noeviction',
      '--loglevel',
      'warning',
      ...(this.options.extraArgs ?? []),
    ];
    const name = this.options.name ?? 'redis-server';
    const proc = new ManagedProcess(name, 'redis-server', args);
    this.proc = proc;
    await waitForPing(name, this.port, proc, 10_000);
  }

  /** Stops the server (SIGTERM: it writes its AOF) and starts it again on the same port and data dir. */
  async restart(downMs = 0): Promise<void> {
    await this.proc?.stop('SIGTERM');
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.launch();
  }

  /** Ends the server at once, as a crash would. */
  async kill(): Promise<void> {
    await this.proc?.kill();
  }

  async stop(): Promise<void> {
    await this.proc?.stop('SIGTERM');
    if (this.ownsDir) await rm(this.dir, { recursive: true, force: true });
  }
}

async function waitForPing(
  name: string,
  port: number,
  proc: ManagedProcess,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!proc.running) throw new Error(`${name} exited at start:\n${proc.output()}`);
    if (await ping(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} did not answer PING on port ${port} within ${timeoutMs} ms:\n${proc.output()}`);
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let answer = '';
    sock.setTimeout(500);
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      answer += d.toString();
      if (answer.includes('\r\n')) {
        sock.destroy();
        // While loading the AOF, Redis answers -LOADING: not ready yet.
        resolve(answer.startsWith('+PONG'));
      }
    });
    sock.on('error', () => resolve(false));
    sock.on('timeout', () => {
      sock.destroy();
      resolve(false);
    });
  });
}
