import { RecordingApiClient, RecordingClient, type RecordingService } from '@recfleet/client';

/** Where the CLI writes: the process's streams, or anything that looks like them (tests). */
export interface CliIo {
  stdout: { write(chunk: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(chunk: string): unknown };
  env: Record<string, string | undefined>;
}

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** What the CLI talks to: the fleet's Redis, or its HTTP API (for operators who have no Redis access). */
export type FleetAccess =
  { kind: 'redis'; redisUrl: string; keyPrefix: string } | { kind: 'api'; apiUrl: string; apiKey: string };

/**
 * What a command runs with: output settings and the fleet's RecordingService — a RecordingClient on
 * Redis or a RecordingApiClient on the HTTP API, opened on first use. Both bound every call, so a fleet
 * that cannot be reached is exit code 5, not a hang; both throw the same typed errors, so every command
 * answers the same exit codes through either.
 */
export class CliContext {
  private clientInstance?: RecordingService;

  constructor(
    readonly io: CliIo,
    readonly access: FleetAccess,
    readonly json: boolean,
  ) {}

  /** What the commands' messages call the fleet's store (`Redis`, or `the API`). */
  get store(): string {
    return this.access.kind === 'redis' ? 'Redis' : 'the API';
  }

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

  client(): RecordingService {
    this.clientInstance ??=
      this.access.kind === 'redis'
        ? new RecordingClient({ redisUrl: this.access.redisUrl, keyPrefix: this.access.keyPrefix })
        : new RecordingApiClient({ apiUrl: this.access.apiUrl, apiKey: this.access.apiKey });
    return this.clientInstance;
  }

  async close(): Promise<void> {
    await this.clientInstance?.close().catch(() => undefined);
  }
}
