import { FAULT_KINDS, type ChaosSoakResult } from './chaos-soak.js';

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const seconds = (n: number): string => n.toFixed(1);

function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * The soak as markdown: faults by kind (how many, the tracks they exposed, how many of those lost
 * media, and the media each exposed track lost: median and max), then the audit's counts and the verdict.
 */
export function chaosSoakReport(r: ChaosSoakResult): string {
  const byKind = FAULT_KINDS.map((kind) => {
    const faults = r.faults.filter((f) => f.kind === kind);
    const lost = faults.flatMap((f) => f.lost.map((l) => l.seconds));
    return [
      kind,
      faults.length,
      lost.length,
      lost.filter((s) => s > 0).length,
      seconds(median(lost)),
      seconds(Math.max(0, ...lost)),
    ];
  });
  const unattributed = r.unattributed.map((g) => g.seconds);
  byKind.push([
    'none (no fault near)',
    '',
    '',
    unattributed.length,
    seconds(median(unattributed)),
    seconds(Math.max(0, ...unattributed)),
  ]);
  const a = r.audit;
  const singles = r.recordings.filter((x) => x.kind === 'single').length;
  const counts: [string, string | number][] = [
    [
      'recordings (single streams + channel recordings of 2 users)',
      `${r.recordings.length} (${singles} + ${r.recordings.length - singles})`,
    ],
    ['tracks audited', a.tracks],
    ['segments listed / reported finished', `${a.segments} / ${a.reportedSegments}`],
    ['finished segments lost', a.lostSegments],
    ['reported segments discarded by fencing (recorded after a newer owner claimed)', a.fencedSegments],
    ['overlapping entries', a.overlaps],
    ['playlists FFmpeg did not decode cleanly', a.decodeFailures],
    ['recordings without exactly one terminal event', a.terminalProblems],
    ['changes of owner along the playlists', a.takeovers],
    ['empty spool folders left by fenced sessions', r.spoolEmptyFolders],
    ['other problems', a.problems.length + r.problems.length],
  ];
  const minutes = (r.durationMs / 60_000).toFixed(1);
  return [
    `Seed ${r.seed}, ${minutes} min of faults (${r.faults.length}), ${(r.wallMs / 60_000).toFixed(1)} min in all.`,
    '',
    table(
      [
        'fault',
        'count',
        'tracks exposed',
        'tracks that lost media',
        'media lost per exposed track, median (s)',
        'max (s)',
      ],
      byKind,
    ),
    '',
    table(['audit', 'count'], counts),
    '',
    `**${r.passed ? 'PASS' : 'MISS'}**`,
  ].join('\n');
}

/** One line per fault: when (s into the fault phase), what, on whom, and its worst loss. */
export function chaosFaultLines(r: ChaosSoakResult): string[] {
  const t0 = r.faults[0]?.startedAt ?? 0;
  return r.faults.map((f) => {
    const lost = f.lost.filter((l) => l.seconds > 0);
    const worst = Math.max(0, ...lost.map((l) => l.seconds));
    return (
      `+${((f.startedAt - t0) / 1000).toFixed(0)} s ${f.kind} ${f.target}: ${f.detail}; ` +
      `${lost.length}/${f.lost.length} tracks lost media (max ${seconds(worst)} s)`
    );
  });
}
