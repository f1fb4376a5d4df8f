import { DEFAULT_KEY_PREFIX } from '@recfleet/contract';
import { RecordingClient } from '@recfleet/client';

/** Where the CLI writes: the process's streams, or anything that looks like them (tests). */
export interface CliIo {
  stdout: { write(chunk: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(chunk: string): unknown };
  env: Record<string, string | undefined>;
}

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * What a command runs with: output settings and the fleet's RecordingClient, opened on first use. The
 * client bounds every Redis call, so a Redis that cannot be reached is exit code 5, not a hang.
 */
export class CliContext {
  private clientInstance?: RecordingClient;

  constructor(
    readonly io: CliIo,
    readonly redisUrl: string,
    readonly json: boolean,
    /** The fleet's key prefix (workers' `keyPrefix`). */
    readonly keyPrefix: string = DEFAULT_KEY_PREFIX,
  ) {}

  out(text: string): void {
    this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** One JSON document (or one JSON line, for streams) on stdout. */
  outJson(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value)}\n`);
  }

  err(line: string): void {
    this.io.stderr.write(`recfleet: ${line}\n`);
  }

  client(): RecordingClient {
    this.clientInstance ??= new RecordingClient({ redisUrl: this.redisUrl, keyPrefix: this.keyPrefix });
    return this.clientInstance;
  }

  async close(): Promise<void> {
    await this.clientInstance?.close().catch(() => undefined);
  }
}
