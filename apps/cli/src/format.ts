import type { Subscriptions } from '@recfleet/contract';
import type { RecordingProgress, RecordingSummary, RecordingUser } from '@recfleet/client';

export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  const mm = String(m).padStart(2, '0');
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${m}:${ss}`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** Rounded down, so that 100 % is shown only when everything is uploaded. */
export function formatPercent(percent: number): string {
  return `${Math.floor(percent)}%`;
}

export function formatProgress(p: RecordingProgress | undefined): string {
  if (!p) return '-';
  return `${formatSeconds(p.durationSeconds)}, ${p.segments} segments, ${p.segmentsUploaded} uploaded (${formatPercent(p.uploadPercent)}), ${formatBytes(p.bytes)}`;
}

export function formatTime(ms: number | undefined): string {
  if (ms === undefined) return '-';
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

/** A fixed-width text table (the last column is not padded). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function listRows(recordings: readonly RecordingSummary[]): string[][] {
  return recordings.map((r) => [
    r.recordingId,
    r.state,
    `${r.appId}/${r.channel}`,
    formatTime(r.createdAt),
    r.progress ? formatSeconds(r.progress.durationSeconds) : '-',
    r.progress ? String(r.progress.segments) : '-',
    r.progress ? formatPercent(r.progress.uploadPercent) : '-',
  ]);
}

/** `[██████░░░░]` for a percentage. */
export function bar(percent: number, width = 20): string {
  const filled = Math.max(0, Math.min(width, Math.round((percent / 100) * width)));
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`;
}

/** `audio of 1, 2; video of all but 3`: what a channel recording subscribes. */
export function formatSubscriptions(s: Subscriptions): string {
  return (['Audio', 'Video'] as const)
    .map((kind) => {
      const only = s[`subscribe${kind}Uids`];
      const except = s[`unsubscribe${kind}Uids`];
      const who =
        only !== undefined
          ? only.length === 0
            ? 'nobody'
            : only.join(', ')
          : except !== undefined && except.length > 0
            ? `all but ${except.join(', ')}`
            : 'all';
      return `${kind.toLowerCase()} of ${who}`;
    })
    .join('; ');
}

/**
 * One row per user of a channel recording: uid, present, track types, segments and recorded seconds
 * (the worker's live figures while it runs, else the users hash's), and when they last joined.
 */
export function userRows(users: readonly RecordingUser[]): string[][] {
  return users.map((u) => {
    const live = u.progress ?? [];
    const segments = Math.max(
      live.reduce((n, p) => n + p.segments, 0),
      u.tracks.reduce((n, t) => n + t.segments, 0),
    );
    const seconds = Math.max(
      live.reduce((n, p) => n + p.durationSeconds, 0),
      u.tracks.reduce((n, t) => n + t.durationSeconds, 0),
    );
    const joined = u.intervals.at(-1)?.joinedAt;
    return [
      String(u.uid),
      u.present ? 'yes' : 'no',
      u.tracks.map((t) => t.type).join(',') || '-',
      String(segments),
      formatSeconds(seconds),
      joined ? formatTime(Date.parse(joined)) : '-',
    ];
  });
}
