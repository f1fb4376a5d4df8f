import { spawn, spawnSync } from 'node:child_process';

/** Debian's `prometheus` package brings promtool, which lints metrics as Prometheus's conventions have them. */
export const hasPromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * `promtool check metrics` over a scrape: exit code 0 and no output when the metrics keep Prometheus's
 * conventions (counters `_total`, units in names, HELP for each); otherwise what it complains about.
 */
export function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(text);
  });
}
