import {
  EXIT_CODES,
  isTerminalEvent,
  RECORDING_EVENT_TYPES,
  type RecordingEvent,
  type RecordingEventType,
  type RecordingState,
  RecfleetError,
  RedisUnavailableError,
  uploadPercent,
} from '@recfleet/contract';
import { asProgress, type FollowOutage, type RecordingStatus, subscriptionsFrom } from '@recfleet/client';
import type { CliContext } from './context.js';
import { bar, formatPercent, formatSeconds, formatSubscriptions } from './format.js';

/** What `watch` shows: the state and progress, rebuilt from the recording's events. */
export interface WatchSnapshot {
  state: RecordingState;
  durationSeconds: number;
  segments: number;
  segmentsUploaded: number;
  bytes: number;
  bytesUploaded: number;
  uploadPercent: number;
}

/** The state an event puts a recording in (events that leave it where it is are not listed). */
const STATE_OF_EVENT: Partial<Record<RecordingEventType, RecordingState>> = {
  queued: 'queued',
  handoff: 'queued',
  joined: 'joining',
  started: 'recording',
  stopped: 'stopping',
  uploaded: 'uploaded',
  backed_up: 'backed_up',
  fatal_error: 'failed',
};

/** The exit code of each way a recording ends. */
const OUTCOME_EXIT: Partial<Record<RecordingState, number>> = {
  uploaded: EXIT_CODES.OK,
  backed_up: EXIT_CODES.BACKED_UP,
  failed: EXIT_CODES.FAILED,
};

export function newSnapshot(state: RecordingState): WatchSnapshot {
  return {
    state,
    durationSeconds: 0,
    segments: 0,
    segmentsUploaded: 0,
    bytes: 0,
    bytesUploaded: 0,
    uploadPercent: 0,
  };
}

export function applyEvent(s: WatchSnapshot, event: Pick<RecordingEvent, 'type' | 'data'>): void {
  const d = event.data;
  const n = (k: string): number => (typeof d[k] === 'number' ? (d[k] as number) : 0);
  s.state = STATE_OF_EVENT[event.type] ?? s.state;
  switch (event.type) {
    case 'segment':
      s.segments += 1;
      s.durationSeconds += n('durationSeconds');
      s.bytes += n('bytes');
      break;
    case 'uploaded_segment':
      s.segmentsUploaded += 1;
      s.bytesUploaded += n('bytes');
      break;
    case 'progress': {
      // The worker's own totals (and percentage, read as every reader reads it).
      const p = asProgress(d);
      if (p) {
        const { users: _perUser, ...totals } = p;
        Object.assign(s, totals);
      }
      return;
    }
    case 'uploaded':
    case 'backed_up':
      if (typeof d.segments === 'number') s.segments = d.segments;
      if (typeof d.durationSeconds === 'number') s.durationSeconds = d.durationSeconds;
      if (typeof d.bytes === 'number') s.bytes = d.bytes;
      if (event.type === 'uploaded') {
        s.segmentsUploaded = s.segments;
        s.bytesUploaded = s.bytes;
      }
      break;
  }
  s.uploadPercent = uploadPercent(s.bytesUploaded, s.bytes);
}

/**
 * The line an event is shown as: a channel recording's user events (users joining and leaving, users
 * not recorded, an update applied), and any event type this version does not know (a newer worker's),
 * as its type and data. Undefined for the other known events: the progress line shows them.
 */
export function eventLine(event: Pick<RecordingEvent, 'type' | 'data'>): string | undefined {
  const line = userEventLine(event);
  if (line !== undefined || RECORDING_EVENT_TYPES.includes(event.type)) return line;
  return `${String(event.type)} ${JSON.stringify(event.data)}`;
}

/**
 * The line a channel recording's user event is shown as (users joining and leaving, users not recorded,
 * an update applied), or undefined for every other event.
 */
export function userEventLine(event: Pick<RecordingEvent, 'type' | 'data'>): string | undefined {
  const d = event.data;
  const uid = typeof d.uid === 'number' ? d.uid : '?';
  switch (event.type) {
    case 'user_joined': {
      const streams = [d.audio === true ? 'audio' : '', d.video === true ? 'video' : ''].filter(Boolean);
      const recorded =
        d.recorded === false
          ? 'not recorded'
          : `recorded${typeof d.track === 'string' ? ` as ${d.track}` : ''}`;
      return `user ${uid} joined (${streams.join('+') || 'nothing published yet'}), ${recorded}`;
    }
    case 'user_left':
      return `user ${uid} left (${typeof d.reason === 'string' ? d.reason : 'left'})`;
    case 'user_not_recorded':
      return `user ${uid} not recorded (${typeof d.reason === 'string' ? d.reason : 'unknown reason'})`;
    case 'updated': {
      const subscriptions = subscriptionsFrom(d.subscriptions) ?? {};
      const version = typeof d.version === 'number' ? ` (version ${d.version})` : '';
      return `subscriptions updated${version}: ${formatSubscriptions(subscriptions)}`;
    }
    default:
      return undefined;
  }
}

/** How a watched recording ended, from its terminal event or (without one) its settled record. */
export interface WatchOutcome {
  outcome: RecordingState;
  exitCode: number;
  error?: { code: string; message: string };
}

export function outcomeOf(terminal: RecordingEvent | undefined, after: RecordingStatus): WatchOutcome {
  const outcome = terminal ? (STATE_OF_EVENT[terminal.type] ?? 'failed') : after.state;
  const exitCode = OUTCOME_EXIT[outcome] ?? EXIT_CODES.FAILED;
  if (outcome !== 'failed') return { outcome, exitCode };
  const code = terminal?.data.code ?? after.error?.code ?? 'INTERNAL';
  const message = terminal?.data.message ?? after.error?.message ?? '';
  return { outcome, exitCode, error: { code: String(code), message: String(message) } };
}

/** How watch shows the snapshot: one rewritten line on a terminal, a line per change otherwise. */
class WatchDisplay {
  private readonly tty: boolean;
  private lastLine = '';
  private readonly onSigint = (): void => {
    this.ctx.io.stdout.write('\n');
    process.exit(130);
  };

  constructor(
    private readonly ctx: CliContext,
    private readonly recordingId: string,
  ) {
    this.tty = !ctx.json && ctx.io.stdout.isTTY === true;
    if (this.tty) process.once('SIGINT', this.onSigint);
  }

  event(event: RecordingEvent, s: WatchSnapshot): void {
    if (this.ctx.json) {
      this.ctx.outJson({ recordingId: this.recordingId, ...event, state: s.state, progress: progressOf(s) });
      return;
    }
    const line = eventLine(event);
    if (line === undefined) return;
    const stamped = `${new Date(event.at).toISOString()} ${this.recordingId}  ${line}`;
    // On a terminal the progress line is cleared first and drawn again below by render().
    if (this.tty) this.ctx.io.stdout.write(`\r\x1b[2K${stamped}\n`);
    else this.ctx.out(stamped);
  }

  render(s: WatchSnapshot): void {
    if (this.ctx.json) return;
    const id = this.recordingId;
    if (this.tty) {
      const line = `${bar(s.uploadPercent)} ${formatPercent(s.uploadPercent).padStart(4)} uploaded  ${s.state.padEnd(9)} ${formatSeconds(s.durationSeconds)}  ${s.segments} segments  ${id}`;
      const width = this.ctx.io.stdout.columns ?? 120;
      this.ctx.io.stdout.write(`\r\x1b[2K${line.slice(0, Math.max(20, width - 1))}`);
      return;
    }
    const line = `${id}  ${s.state.padEnd(9)} ${formatSeconds(s.durationSeconds)}, ${s.segments} segments, ${s.segmentsUploaded} uploaded (${formatPercent(s.uploadPercent)})`;
    if (line !== this.lastLine) {
      this.ctx.out(`${new Date().toISOString()} ${line}`);
      this.lastLine = line;
    }
  }

  /** A notice on stderr (in every mode: stdout keeps its lines), clearing a progress line first. */
  notice(text: string): void {
    if (this.tty) this.ctx.io.stdout.write('\r\x1b[2K');
    this.ctx.err(text);
  }

  close(): void {
    if (!this.tty) return;
    process.removeListener('SIGINT', this.onSigint);
    this.ctx.io.stdout.write('\n');
  }

  report(o: WatchOutcome, s: WatchSnapshot, after: RecordingStatus): void {
    const id = this.recordingId;
    if (this.ctx.json) {
      this.ctx.outJson({
        recordingId: id,
        type: 'outcome',
        outcome: o.outcome,
        exitCode: o.exitCode,
        progress: progressOf(s),
        result: after.result ?? null,
        error: o.error ?? null,
      });
    } else if (o.error) {
      this.ctx.err(`recording ${id} failed: [${o.error.code}] ${o.error.message}`);
    } else {
      const where = after.result?.playlistLocation ? `; playlist ${after.result.playlistLocation}` : '';
      this.ctx.out(`${id} ${o.outcome}: ${formatSeconds(s.durationSeconds)}, ${s.segments} segments${where}`);
    }
  }
}

export interface WatchOptions {
  /**
   * How long, seconds, watch waits for Redis once it has lost it before it gives up with exit code 5
   * (undefined: as long as it takes — the recording goes on through an outage).
   */
  maxWaitSeconds?: number;
}

/** How often watch asks again for the outcome while Redis is away at the end. */
const OUTCOME_RETRY_MS = 1000;

/** Watch gave up after `--max-wait` seconds without Redis (or the API): exit code 5, as any outage. */
class MaxWaitExceededError extends RedisUnavailableError {
  constructor(seconds: number, store: string) {
    super(`${store} has not answered for ${seconds} s (--max-wait); the recording's outcome is unknown`);
    this.name = 'MaxWaitExceededError';
  }
}

/**
 * Follows a recording's events (RecordingClient.follow) from its start until it reaches its outcome:
 * a terminal event, or a settled record without one. Exit code: 0 uploaded, 3 backed_up, 1 failed.
 * Redis must answer when watch begins (exit 5 within the bound otherwise). Once following, an outage
 * is waited out — a notice on stderr when Redis is lost and when it is back, reading on after the last
 * event shown — for as long as it lasts, or until `maxWaitSeconds` (then exit 5).
 */
export async function watchRecording(
  ctx: CliContext,
  recordingId: string,
  options: WatchOptions = {},
): Promise<number> {
  const client = ctx.client();
  const initial = await client.get(recordingId);
  const snap = newSnapshot(initial.state);
  const display = new WatchDisplay(ctx, recordingId);
  const patience = new OutagePatience(display, options.maxWaitSeconds, ctx.store);
  let terminal: RecordingEvent | undefined;
  let lastId: string | undefined;
  try {
    try {
      display.render(snap);
      const events = client.follow(recordingId, {
        blockMs: 500,
        onOutage: (change) => patience.told(change, lastId),
      });
      try {
        for (;;) {
          const next = await patience.within(events.next());
          if (next.done) break;
          const event = next.value;
          lastId = event.id;
          applyEvent(snap, event);
          display.event(event, snap);
          display.render(snap);
          if (isTerminalEvent(event.type)) terminal = event;
        }
      } finally {
        void events.return(undefined);
      }
    } finally {
      display.close();
    }
    const after = await patience.retry(() => client.get(recordingId));
    const outcome = outcomeOf(terminal, after);
    display.report(outcome, snap, after);
    return outcome.exitCode;
  } finally {
    patience.end();
  }
}

/**
 * Watch's patience with Redis: notices when it is lost and back, and — with a maximum wait — the end of
 * the watch (RedisUnavailableError, exit 5) once it has been away that long.
 */
class OutagePatience {
  private timer: NodeJS.Timeout | undefined;
  private giveUp: ((err: Error) => void) | undefined;
  private readonly gaveUp: Promise<never>;

  constructor(
    private readonly display: WatchDisplay,
    private readonly maxWaitSeconds: number | undefined,
    /** What is waited for: `Redis`, or `the API`. */
    private readonly store: string,
  ) {
    this.gaveUp = new Promise<never>((_, reject) => (this.giveUp = reject));
    this.gaveUp.catch(() => undefined);
  }

  /** What follow tells: a notice, and the maximum wait started (or ended). */
  told(change: FollowOutage, lastId: string | undefined): void {
    if (change.state === 'restored') {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.display.notice(
        `${capitalized(this.store)} is back after ${Math.round(change.downMs / 1000)} s; watching on${lastId ? ` after event ${lastId}` : ''}`,
      );
      return;
    }
    const patience =
      this.maxWaitSeconds === undefined
        ? 'as long as it takes (--max-wait <s> to give up)'
        : `at most ${this.maxWaitSeconds} s (--max-wait)`;
    this.display.notice(
      `${capitalized(this.store)} unavailable since ${new Date(change.at).toISOString()}; the recording goes on without ${this.store}: waiting for it ${patience}`,
    );
    this.lost(change.at);
  }

  private lost(at: number): void {
    if (this.maxWaitSeconds === undefined || this.timer) return;
    const left = Math.max(0, at + this.maxWaitSeconds * 1000 - Date.now());
    const seconds = this.maxWaitSeconds;
    this.timer = setTimeout(
      () => this.giveUp?.(new MaxWaitExceededError(seconds, capitalized(this.store))),
      left,
    );
  }

  /** `step`, unless the maximum wait for Redis runs out first. */
  within<T>(step: Promise<T>): Promise<T> {
    return Promise.race([step, this.gaveUp]);
  }

  /** `op` again and again while Redis is unavailable, within the patience. */
  async retry<T>(op: () => Promise<T>): Promise<T> {
    let lostAt: number | undefined;
    for (;;) {
      try {
        const value = await this.within(op());
        if (lostAt !== undefined) {
          this.told({ state: 'restored', at: Date.now(), downMs: Date.now() - lostAt }, undefined);
        }
        return value;
      } catch (err) {
        if (!isUnavailable(err) || err instanceof MaxWaitExceededError) throw err;
        if (lostAt === undefined) {
          lostAt = Date.now();
          this.told({ state: 'lost', at: lostAt, error: err }, undefined);
        }
        await this.within(new Promise((r) => setTimeout(r, OUTCOME_RETRY_MS)));
      }
    }
  }

  end(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function progressOf(s: WatchSnapshot): Omit<WatchSnapshot, 'state'> {
  return {
    durationSeconds: Math.round(s.durationSeconds * 1000) / 1000,
    segments: s.segments,
    segmentsUploaded: s.segmentsUploaded,
    bytes: s.bytes,
    bytesUploaded: s.bytesUploaded,
    uploadPercent: s.uploadPercent,
  };
}

/** Redis, or the API, is not there for now: what watch waits out (any error of the unavailable category). */
function isUnavailable(err: unknown): err is RecfleetError {
  return err instanceof RecfleetError && err.category === 'unavailable';
}

function capitalized(s: string): string {
  return `${s.charAt(0).toUpperCase()}${s.slice(1)}`;
}
