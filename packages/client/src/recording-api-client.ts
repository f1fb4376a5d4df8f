import {
  type ControlRequest,
  type FieldProblem,
  InvalidRecordingJobError,
  isRecfleetErrorCode,
  isRecordingState,
  RecfleetError,
  type RecordingEvent,
  RedisUnavailableError,
  TERMINAL_EVENTS,
} from '@recfleet/contract';
import {
  InvalidListFilterError,
  NotAChannelRecordingError,
  RecordingEndedError,
  RecordingNotFoundError,
  type RecordingRequest,
} from './recording-errors.js';
import {
  isSettled,
  type ListFilter,
  type RecordingPage,
  type RecordingStatus,
} from './recording-read-model.js';
import type {
  ControlOutcome,
  FollowOptions,
  RecordingHandle,
  RecordingService,
  StartRequest,
  UpdateOutcome,
} from './recording-service.js';

/** The recfleet HTTP API did not answer: down, unreachable, or not within the bound. Exit code 5, as Redis. */
export class ApiUnavailableError extends RecfleetError {
  declare readonly code: 'API_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super('API_UNAVAILABLE', message, options);
    this.name = 'ApiUnavailableError';
  }
}

export interface RecordingApiClientOptions {
  /** Where the API is, e.g. `https://recordings.example.com` (paths are under `/v1`). */
  apiUrl: string;
  /** One of the API's keys, sent as `Authorization: Bearer <key>`. */
  apiKey: string;
  /** Bound on each request, ms (default 5000; an event stream's bound is on its opening). */
  timeoutMs?: number;
}

/** How soon a follower that lost the API asks again. */
const FOLLOW_RETRY_MS = 500;

/** A problem answer of the API (RFC 9457), as far as a client decides on it: by `code`, never by text. */
interface Problem {
  status?: number;
  code?: string;
  detail?: string;
  errors?: FieldProblem[];
  recordingId?: string;
  state?: string;
}

/**
 * The recfleet HTTP API as a RecordingService, for callers that have an API key but no access to Redis
 * (the CLI's `--api-url`): the same operations, answers and typed errors as RecordingClient, read from
 * the API's JSON and problem answers (their `code` and extension members decide the error). `follow`
 * reads the server-sent events and, when the connection drops, reconnects after the last event it
 * yielded (`Last-Event-ID`), for as long as it takes; `onOutage` is told when the API is lost and back.
 */
export class RecordingApiClient implements RecordingService {
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly streams = new Set<AbortController>();

  constructor(private readonly options: RecordingApiClientOptions) {
    this.base = options.apiUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  async start(request: StartRequest): Promise<RecordingHandle> {
    const { recordingId, created } = (await this.call('POST', '/v1/recordings', {
      body: request,
    })) as RecordingHandle;
    return { recordingId, created };
  }

  async get(recordingId: string): Promise<RecordingStatus> {
    const view = (await this.call('GET', recordingPath(recordingId), { recordingId })) as RecordingStatus & {
      events?: unknown;
      eventsTruncated?: unknown;
      playlist?: unknown;
    };
    const { events: _events, eventsTruncated: _truncated, playlist: _playlist, ...status } = view;
    return status;
  }

  async list(filter: ListFilter = {}): Promise<RecordingPage> {
    const query = new URLSearchParams();
    if (filter.state !== undefined) query.set('state', ([] as string[]).concat(filter.state).join(','));
    if (filter.channel !== undefined) query.set('channel', filter.channel);
    if (filter.appId !== undefined) query.set('appId', filter.appId);
    if (filter.limit !== undefined) query.set('limit', String(filter.limit));
    if (filter.cursor !== undefined) query.set('cursor', filter.cursor);
    const q = query.toString();
    return (await this.call('GET', `/v1/recordings${q ? `?${q}` : ''}`)) as RecordingPage;
  }

  async update(recordingId: string, update: unknown): Promise<UpdateOutcome> {
    return (await this.call('PATCH', recordingPath(recordingId), {
      body: update,
      recordingId,
      request: 'update',
    })) as UpdateOutcome;
  }

  stop(recordingId: string): Promise<ControlOutcome> {
    return this.control(recordingId, 'stop');
  }

  cancel(recordingId: string): Promise<ControlOutcome> {
    return this.control(recordingId, 'cancel');
  }

  private async control(recordingId: string, request: ControlRequest): Promise<ControlOutcome> {
    const path = request === 'stop' ? `${recordingPath(recordingId)}/stop` : recordingPath(recordingId);
    return (await this.call(request === 'stop' ? 'POST' : 'DELETE', path, {
      recordingId,
      request,
    })) as ControlOutcome;
  }

  /** Whether the API answers and what it says of Redis (`/healthz`). */
  async health(): Promise<{ status: string; redis: string }> {
    const res = await this.fetch('GET', '/healthz', {});
    return (await res.json()) as { status: string; redis: string };
  }

  async *follow(recordingId: string, options: FollowOptions = {}): AsyncGenerator<RecordingEvent> {
    let lastId = options.afterId;
    let lostAt: number | undefined;
    const lost = (error: RecfleetError): void => {
      if (lostAt !== undefined) return;
      lostAt = Date.now();
      options.onOutage?.({ state: 'lost', at: lostAt, error });
    };
    for (;;) {
      const controller = new AbortController();
      this.streams.add(controller);
      try {
        let res: Response;
        try {
          res = await this.fetch('GET', `${recordingPath(recordingId)}/events`, {
            recordingId,
            stream: controller.signal,
            headers: { accept: 'text/event-stream', ...(lastId ? { 'last-event-id': lastId } : {}) },
          });
        } catch (err) {
          if (controller.signal.aborted) return;
          if (!(err instanceof RecfleetError) || err.category !== 'unavailable') throw err;
          lost(err);
          await sleep(FOLLOW_RETRY_MS);
          continue;
        }
        if (lostAt !== undefined) {
          const at = Date.now();
          options.onOutage?.({ state: 'restored', at, downMs: at - lostAt });
          lostAt = undefined;
        }
        try {
          for await (const event of serverSentEvents(res)) {
            lastId = event.id;
            yield event;
            if (TERMINAL_EVENTS.includes(event.type)) return;
          }
        } catch (err) {
          if (controller.signal.aborted) return;
          lost(
            new ApiUnavailableError(`the event stream of ${this.base} broke: ${(err as Error).message}`, {
              cause: err,
            }),
          );
          await sleep(FOLLOW_RETRY_MS);
          continue;
        }
        // The API ends a stream after the terminal event, or when the recording is over without one; a
        // stream that ends otherwise (the API restarted) is opened again after the last event.
        const status = await this.get(recordingId).catch((err: unknown) => {
          if (err instanceof RecfleetError && err.category === 'unavailable') return undefined;
          throw err;
        });
        if (status && isSettled(status.state)) return;
      } finally {
        this.streams.delete(controller);
      }
    }
  }

  /** Ends every open event stream. */
  async close(): Promise<void> {
    for (const c of this.streams) c.abort();
    this.streams.clear();
  }

  /** One request whose answer is JSON: the parsed body of a 2xx, or the error its problem names. */
  private async call(
    method: string,
    path: string,
    o: { body?: unknown; recordingId?: string; request?: RecordingRequest } = {},
  ): Promise<unknown> {
    const res = await this.fetch(method, path, o);
    const text = await res.text().catch((err: unknown) => {
      throw new ApiUnavailableError(`${this.base} did not finish its answer: ${(err as Error).message}`, {
        cause: err,
      });
    });
    if (res.ok) return JSON.parse(text) as unknown;
    throw problemError(res.status, parseProblem(text), o.recordingId, o.request);
  }

  /**
   * One request, bounded; a connection the API refuses or a request it does not answer in time is
   * ApiUnavailableError. An event stream is bounded until it opens, then aborted by `stream`.
   */
  private async fetch(
    method: string,
    path: string,
    o: { body?: unknown; stream?: AbortSignal; headers?: Record<string, string>; recordingId?: string },
  ): Promise<Response> {
    const opened = AbortSignal.timeout(this.timeoutMs);
    const signal = o.stream ? AbortSignal.any([o.stream, opened]) : opened;
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        signal,
        headers: {
          authorization: `Bearer ${this.options.apiKey}`,
          ...(o.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...o.headers,
        },
        ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
      });
    } catch (err) {
      const reason = opened.aborted ? `no answer within ${this.timeoutMs} ms` : causeOf(err);
      throw new ApiUnavailableError(`the recfleet API at ${this.base} is not reachable (${reason})`, {
        cause: err,
      });
    }
    if (o.stream && res.ok) return res;
    if (o.stream) {
      const text = await res.text().catch(() => '');
      throw problemError(res.status, parseProblem(text), o.recordingId, undefined);
    }
    return res;
  }
}

function recordingPath(recordingId: string): string {
  return `/v1/recordings/${encodeURIComponent(recordingId)}`;
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

function parseProblem(text: string): Problem {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null ? (value as Problem) : {};
  } catch {
    return {};
  }
}

/** The typed error a problem answer stands for, as RecordingClient would have thrown it. */
function problemError(
  status: number,
  p: Problem,
  recordingId: string | undefined,
  request: RecordingRequest | undefined,
): RecfleetError {
  const detail = p.detail ?? `the API answered ${status}`;
  const id = p.recordingId ?? recordingId ?? '';
  switch (p.code) {
    case 'RECORDING_NOT_FOUND':
      return new RecordingNotFoundError(id);
    case 'RECORDING_ENDED':
      return new RecordingEndedError(id, isRecordingState(p.state) ? p.state : 'failed', request ?? 'stop');
    case 'NOT_A_CHANNEL_RECORDING':
      return new NotAChannelRecordingError(id, 'single_stream');
    case 'INVALID_JOB':
      return new InvalidRecordingJobError(p.errors ?? []);
    case 'INVALID_FILTER':
      return new InvalidListFilterError(p.errors ?? []);
    case 'REDIS_UNAVAILABLE':
      return new RedisUnavailableError(detail);
  }
  if (p.code !== undefined && isRecfleetErrorCode(p.code)) return new RecfleetError(p.code, detail);
  if (status === 503 || status === 502 || status === 504) return new ApiUnavailableError(detail);
  return new RecfleetError('INTERNAL', detail);
}

/** The events of a `text/event-stream` answer, as the API writes them (`id`, `event`, `data` lines). */
async function* serverSentEvents(res: Response): AsyncGenerator<RecordingEvent> {
  if (!res.body) return;
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
      const data = block
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).replace(/^ /, ''))
        .join('\n');
      // Comments (`: keep-alive`, `: redis unavailable …`) and `retry:` lines carry no event.
      if (data) yield JSON.parse(data) as RecordingEvent;
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
