import { isFinalState, recordingRedisKeys, type RecordingEvent } from '@recfleet/contract';
import { asProgress, type RecordingSummary } from '../dashboard/recording-records.js';
import type { CliContext } from './context.js';
import { ExitCode, type CliError } from './errors.js';
import { bar, formatSeconds } from './format.js';

/** What `watch` shows: the state and progress, rebuilt from the recording's events. */
export interface WatchSnapshot {
  state: string;
  durationSeconds: number;
  segments: number;
  segmentsUploaded: number;
  uploadPercent: number;
  bytes: number;
}

const STATE_OF_EVENT: Partial<Record<string, string>> = {
  queued: 'queued',
  handoff: 'queued',
  joined: 'joining',
  started: 'recording',
  stopped: 'stopping',
  uploaded: 'uploaded',
  backed_up: 'backed_up',
  fatal_error: 'failed',
};

export function applyEvent(s: WatchSnapshot, event: Pick<RecordingEvent, 'type' | 'data'>): void {
  const d = event.data;
  const state = STATE_OF_EVENT[event.type];
  if (state) s.state = state;
  switch (event.type) {
    case 'segment':
      s.segments += 1;
      s.durationSeconds += typeof d.durationSeconds === 'number' ? d.durationSeconds : 0;
      s.bytes += typeof d.bytes === 'number' ? d.bytes : 0;
      break;
    case 'uploaded_segment':
      s.segmentsUploaded += 1;
      break;
    case 'progress': {
      const p = asProgress(d);
      if (p) Object.assign(s, p);
      return;
    }
    case 'uploaded':
    case 'backed_up':
      if (typeof d.segments === 'number') s.segments = d.segments;
      if (typeof d.durationSeconds === 'number') s.durationSeconds = d.durationSeconds;
      if (typeof d.bytes === 'number') s.bytes = d.bytes;
      if (event.type === 'uploaded') s.segmentsUploaded = s.segments;
      break;
  }
  s.uploadPercent = s.segments > 0 ? Math.min(100, (100 * s.segmentsUploaded) / s.segments) : 0;
}

const OUTCOME_EXIT: Record<string, number> = {
  uploaded: ExitCode.OK,
  backed_up: ExitCode.BACKED_UP,
  failed: ExitCode.RECORDING_FAILED,
};

function describe(id: string, s: WatchSnapshot): string {
  return `${id}  ${s.state.padEnd(9)} ${formatSeconds(s.durationSeconds)}, ${s.segments} segments, ${s.segmentsUploaded} uploaded (${Math.round(s.uploadPercent)}%)`;
}

/**
 * Follows a recording's event stream from its start until it reaches its outcome (a terminal event, or
 * a final state on its record — a recording cancelled before any worker took it has no terminal event).
 * Exit code: 0 uploaded, 3 backed_up, 1 failed.
 */
export async function watchRecording(
  ctx: CliContext,
  recordingId: string,
  notFound: (id: string) => CliError,
): Promise<number> {
  const records = await ctx.records();
  const initial = await records.get(recordingId);
  if (!initial) throw notFound(recordingId);
  const reader = await ctx.dedicatedRedis();
  const keys = recordingRedisKeys(ctx.keyPrefix, recordingId);
  const snap: WatchSnapshot = {
    state: initial.state,
    durationSeconds: 0,
    segments: 0,
    segmentsUploaded: 0,
    uploadPercent: 0,
    bytes: 0,
  };
  const tty = !ctx.json && ctx.io.stdout.isTTY === true;
  let lastLine = '';
  const render = (): void => {
    if (ctx.json) return;
    if (tty) {
      const line = `${bar(snap.uploadPercent)} ${Math.round(snap.uploadPercent).toString().padStart(3)}% uploaded  ${snap.state.padEnd(9)} ${formatSeconds(snap.durationSeconds)}  ${snap.segments} segments  ${recordingId}`;
      const width = ctx.io.stdout.columns ?? 120;
      ctx.io.stdout.write(`\r\x1b[2K${line.slice(0, Math.max(20, width - 1))}`);
      return;
    }
    const line = describe(recordingId, snap);
    if (line !== lastLine) {
      ctx.out(`${new Date().toISOString()} ${line}`);
      lastLine = line;
    }
  };
  const onSigint = (): void => {
    if (tty) ctx.io.stdout.write('\n');
    process.exit(130);
  };
  if (tty) process.once('SIGINT', onSigint);

  let lastId = '0-0';
  let terminal: RecordingEvent | undefined;
  let final: RecordingSummary | undefined;
  let lastPoll = 0;
  try {
    render();
    while (!terminal) {
      const reply = (await reader.xread('COUNT', 500, 'BLOCK', 500, 'STREAMS', keys.events, lastId)) as
        [string, [string, string[]][]][] | null;
      const entries = reply?.[0]?.[1] ?? [];
      for (const [id, flat] of entries) {
        lastId = id;
        const f: Record<string, string> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
        let data: Record<string, unknown> = {};
        try {
          data = f.data ? (JSON.parse(f.data) as Record<string, unknown>) : {};
        } catch {
          // An unreadable event payload still counts as the event.
        }
        const event = { id, type: f.type as RecordingEvent['type'], at: Number(f.at), data };
        applyEvent(snap, event);
        if (ctx.json) ctx.outJson({ recordingId, ...event, state: snap.state, progress: progressOf(snap) });
        if (event.type === 'uploaded' || event.type === 'backed_up' || event.type === 'fatal_error') {
          terminal = event;
          break;
        }
      }
      render();
      if (terminal) break;
      // The record is the truth when no terminal event will come (cancelled while still queued).
      if (entries.length === 0 && Date.now() - lastPoll >= 1000) {
        lastPoll = Date.now();
        const current = await records.get(recordingId);
        if (current && isFinalState(current.state)) {
          final = current;
          break;
        }
      }
    }
  } finally {
    if (tty) {
      process.removeListener('SIGINT', onSigint);
      ctx.io.stdout.write('\n');
    }
  }

  const outcome = terminal ? (STATE_OF_EVENT[terminal.type] ?? 'failed') : (final?.state ?? 'failed');
  const after = final ?? (await records.get(recordingId));
  const error =
    outcome === 'failed'
      ? {
          code: String(terminal?.data.code ?? after?.errorCode ?? 'UNKNOWN'),
          message: String(terminal?.data.message ?? after?.errorMessage ?? ''),
        }
      : undefined;
  const exitCode = OUTCOME_EXIT[outcome] ?? ExitCode.RECORDING_FAILED;
  if (ctx.json) {
    ctx.outJson({
      recordingId,
      type: 'outcome',
      outcome,
      exitCode,
      progress: progressOf(snap),
      result: after?.result ?? null,
      error: error ?? null,
    });
  } else {
    const where = after?.result?.playlistLocation ? `; playlist ${after.result.playlistLocation}` : '';
    if (outcome === 'failed') ctx.err(`recording ${recordingId} failed: [${error?.code}] ${error?.message}`);
    else
      ctx.out(
        `${recordingId} ${outcome}: ${formatSeconds(snap.durationSeconds)}, ${snap.segments} segments${where}`,
      );
  }
  return exitCode;
}

function progressOf(s: WatchSnapshot): Omit<WatchSnapshot, 'state'> {
  return {
    durationSeconds: Math.round(s.durationSeconds * 1000) / 1000,
    segments: s.segments,
    segmentsUploaded: s.segmentsUploaded,
    uploadPercent: Math.round(s.uploadPercent * 10) / 10,
    bytes: s.bytes,
  };
}
