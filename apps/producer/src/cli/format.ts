import type { RecordingProgress, RecordingSummary } from '../recording-client.js';

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
