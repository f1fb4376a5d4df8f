// Where a main thread's CPU went, from a `.cpuprofile` (cpu-profile-preload.ts): its busy time by
// package or module and by function (self time), biggest first.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  hitCount?: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
}

/** The package (`@smithy/core`), the Node module (`node:net`), the workspace (`apps/worker`), or the frame. */
function moduleOf(url: string, functionName: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return url;
  const own = /\/((?:apps|packages|bench|test)\/[^/]+)\//.exec(url);
  if (own) return own[1]!;
  return url || functionName;
}

function top(
  counts: Map<string, number>,
  n: number,
  busy: number,
  seconds: (hits: number) => string,
): string[] {
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${seconds(v).padStart(9)} ${((100 * v) / busy).toFixed(1).padStart(5)}%  ${k}`);
}

const file = process.argv[2];
if (!file) throw new Error('usage: node bench/dist/cpu-profile-summary.js <file.cpuprofile> [rows]');
const rows = Number(process.argv[3] ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const usPerSample = (profile.endTime - profile.startTime) / Math.max(1, profile.samples.length);
const seconds = (hits: number): string => `${((hits * usPerSample) / 1e6).toFixed(2)} s`;
const byModule = new Map<string, number>();
const byFunction = new Map<string, number>();
let busy = 0;
let idle = 0;
for (const node of profile.nodes) {
  const hits = node.hitCount ?? 0;
  const { functionName, url, lineNumber } = node.callFrame;
  if (hits === 0) continue;
  if (functionName === '(idle)') {
    idle += hits;
    continue;
  }
  busy += hits;
  const mod = moduleOf(url, functionName);
  byModule.set(mod, (byModule.get(mod) ?? 0) + hits);
  const fn = `${functionName || '(anonymous)'} ${url ? `${mod}:${lineNumber + 1}` : ''}`.trim();
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + hits);
}
process.stdout.write(
  [
    `main thread: busy ${seconds(busy)}, idle ${seconds(idle)}, over ${((profile.endTime - profile.startTime) / 1e6).toFixed(0)} s`,
    '',
    'by module:',
    ...top(byModule, rows, busy, seconds),
    '',
    'by function (self time):',
    ...top(byFunction, rows, busy, seconds),
    '',
  ].join('\n'),
);
