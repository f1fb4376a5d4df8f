import {
  EXIT_CODES,
  isTerminalEvent,
  type RecordingEvent,
  type RecordingEventType,
  type RecordingState,
  uploadPercent,
} from '@recfleet/contract';
import { asProgress, type RecordingStatus, subscriptionsFrom } from '../recording-client.js';
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
    const line = userEventLine(event);
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

/**
 * Follows a recording's events (RecordingClient.follow) from its start until it reaches its outcome:
 * a terminal event, or a settled record without one. Exit code: 0 uploaded, 3 backed_up, 1 failed.
 */
export async function watchRecording(ctx: CliContext, recordingId: string): Promise<number> {
  const client = ctx.client();
  const initial = await client.get(recordingId);
  const snap = newSnapshot(initial.state);
  const display = new WatchDisplay(ctx, recordingId);
  let terminal: RecordingEvent | undefined;
  try {
    display.render(snap);
    for await (const event of client.follow(recordingId, { blockMs: 500 })) {
      applyEvent(snap, event);
      display.event(event, snap);
      display.render(snap);
      if (isTerminalEvent(event.type)) terminal = event;
    }
  } finally {
    display.close();
  }
  const after = await client.get(recordingId);
  const outcome = outcomeOf(terminal, after);
  display.report(outcome, snap, after);
  return outcome.exitCode;
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
