/**
 * System calls of a benchmark side, counted per name (`bench/engine-bench.ts`). Unlike CPU time they do
 * not depend on what else the machine runs, so they compare two runs on a shared host too.
 *
 * With perf and access to the kernel's syscall tracepoints (root, or perf_event_paranoid ≤ -1), `perf
 * stat -e raw_syscalls:sys_enter,syscalls:sys_enter_<name>…` counts in the kernel at a cost too small to
 * show in the CPU figures, over the same window. Without it, `strace -c -f` counts instead; it stops the
 * process at every call, so it runs after the CPU window, for a window of its own.
 */
import { spawn, spawnSync } from 'node:child_process';

/** The calls named in the report; everything is in the total. */
export const NAMED_SYSCALLS = [
  'poll',
  'recvfrom',
  'recvmmsg',
  'read',
  'write',
  'fsync',
  'futex',
  'epoll_wait',
  'recvmsg',
  'sendto',
];

export type SyscallTool = 'perf' | 'strace';

export interface SyscallCounts {
  tool: SyscallTool;
  seconds: number;
  total: number;
  byName: Record<string, number>;
}

let probed: SyscallTool | undefined | null = null;

/** Which counter works here (asked once). */
export function syscallTool(): SyscallTool | undefined {
  if (probed !== null) return probed;
  const perf = spawnSync('perf', ['stat', '-x,', '-e', 'raw_syscalls:sys_enter', '--', 'true'], {
    encoding: 'utf8',
  });
  if (perf.status === 0 && /^\d+,/m.test(perf.stderr)) {
    probed = 'perf';
  } else {
    const strace = spawnSync('strace', ['-V'], { encoding: 'utf8' });
    probed = strace.status === 0 ? 'strace' : undefined;
  }
  return probed;
}

/** Counts the system calls of every thread of `pids` for `seconds`; undefined when nothing can count. */
export async function countSyscalls(
  pids: readonly number[],
  seconds: number,
): Promise<SyscallCounts | undefined> {
  const tool = syscallTool();
  if (!tool || pids.length === 0) return undefined;
  return tool === 'perf' ? countWithPerf(pids, seconds) : countWithStrace(pids, seconds);
}

function collect(cmd: string, args: string[], stopAfterMs?: number): Promise<string> {
  return new Promise((resolve) => {
    // perf opens one counter per thread and event: N recorder threads × events need more than the
    // usual 1024 descriptors.
    const child = spawn('sh', ['-c', 'ulimit -n 65536 2>/dev/null; exec "$@"', 'sh', cmd, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    const timer = stopAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGINT'), stopAfterMs);
    child.on('close', () => {
      if (timer) clearTimeout(timer);
      resolve(err);
    });
    child.on('error', () => resolve(''));
  });
}

async function countWithPerf(pids: readonly number[], seconds: number): Promise<SyscallCounts | undefined> {
  const events = ['raw_syscalls:sys_enter', ...NAMED_SYSCALLS.map((n) => `syscalls:sys_enter_${n}`)];
  const out = await collect('perf', [
    ...['stat', '-x,', '-e', events.join(','), '-p', pids.join(',')],
    ...['--', 'sleep', String(seconds)],
  ]);
  const counts = new Map<string, number>();
  for (const line of out.split('\n')) {
    const [value, , event] = line.split(',');
    if (event && /^\d+$/.test(value ?? '')) counts.set(event, Number(value));
  }
  const total = counts.get('raw_syscalls:sys_enter');
  if (total === undefined) return undefined;
  const byName = Object.fromEntries(
    NAMED_SYSCALLS.map((n) => [n, counts.get(`syscalls:sys_enter_${n}`) ?? 0]),
  );
  return { tool: 'perf', seconds, total, byName };
}

async function countWithStrace(pids: readonly number[], seconds: number): Promise<SyscallCounts | undefined> {
  const out = await collect(
    'strace',
    ['-c', '-f', '-q', ...pids.flatMap((p) => ['-p', String(p)])],
    seconds * 1000,
  );
  // `% time  seconds  usecs/call  calls  [errors]  syscall` rows, then a `total` row.
  const byName: Record<string, number> = Object.fromEntries(NAMED_SYSCALLS.map((n) => [n, 0]));
  let total: number | undefined;
  for (const line of out.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5 || !/^[\d.]+$/.test(cols[0]!)) continue;
    const name = cols.at(-1)!;
    const calls = Number(cols[3]);
    if (name === 'total') total = calls;
    else if (name in byName) byName[name] = calls;
  }
  return total === undefined ? undefined : { tool: 'strace', seconds, total, byName };
}
