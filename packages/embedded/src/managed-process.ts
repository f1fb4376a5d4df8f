import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/**
 * A child process we own: its output tail is kept for error messages, and `stop()` always ends it
 * (SIGTERM, then SIGKILL after a grace period) so nothing is left running after a demo or a test.
 */
export class ManagedProcess {
  readonly child: ChildProcess;
  private tail: string[] = [];
  private exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    options: SpawnOptions = {},
  ) {
    // Own process group: a Ctrl-C in the terminal reaches only the program that started us, which then
    // stops its children in order (the recording is finalized before Redis goes away).
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...options });
    const keep = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        this.tail.push(line);
        if (this.tail.length > 40) this.tail.shift();
      }
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        resolve(this.exitCode);
      });
      this.child.once('error', (err) => {
        this.tail.push(`spawn error: ${err.message}`);
        this.exitCode = -1;
        resolve(-1);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** The last lines the process printed, for error messages. */
  output(): string {
    return this.tail.join('\n');
  }

  waitExit(): Promise<number | null> {
    return this.exited;
  }

  /** Waits until `predicate` sees a line of output, or fails with the output tail. */
  waitForLine(predicate: (line: string) => boolean, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      let buffer = '';
      const onData = (chunk: Buffer): void => {
        buffer += chunk.toString('utf8');
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) {
          if (predicate(line)) {
            cleanup();
            resolve(line);
            return;
          }
        }
      };
      const onExit = (): void => {
        cleanup();
        reject(new Error(`${this.name} exited before it was ready:\n${this.output()}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name} was not ready within ${timeoutMs} ms:\n${this.output()}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.child.stdout?.off('data', onData);
        this.child.stderr?.off('data', onData);
        this.child.off('exit', onExit);
      };
      this.child.stdout?.on('data', onData);
      this.child.stderr?.on('data', onData);
      this.child.once('exit', onExit);
    });
  }

  /** Sends `signal` and waits for the exit; escalates to SIGKILL after `graceMs`. Safe to call twice. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Ends the process at once (what a crash or `kill -9` looks like to everyone else). */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}
