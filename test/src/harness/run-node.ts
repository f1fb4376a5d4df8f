import { spawn } from 'node:child_process';

export interface NodeRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** How long it ran, ms. */
  ms: number;
}

/**
 * Runs a Node script in its own process with exactly `env` (callers spread process.env into it when
 * the child should inherit it); resolves when it exits, with what it printed.
 */
export function runNode(script: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<NodeRun> {
  const began = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - began }));
  });
}
