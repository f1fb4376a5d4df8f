import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, type EnvKey } from './config-file.js';

/**
 * The command line of recfleet's long-running processes (`recfleet-worker`, `recfleet-api`,
 * `recfleet-webhooks`): `--help` and `--version` answer without starting anything, `--config FILE`
 * names a YAML or JSON config.
 */
export interface ServiceCommand {
  name: string;
  summary: string;
  /** What `--version` prints: the version of the package that ships the command. */
  version: string;
  /** The variable that names the config file when --config is not given. */
  configVariable: string;
  /** The config's JSON Schema, as the contract package publishes it. */
  schema: string;
  envKeys: Readonly<Record<string, EnvKey>>;
  /** Lines after the environment's (what else to know). */
  notes?: readonly string[];
}

/** What the command line asks: a config file to run with, or an exit code (help, version, usage error). */
export type ServiceArgs = { config: string | undefined } | { exitCode: number };

/** Exit codes of a service: sysexits' EX_USAGE is not used, 2 is what every recfleet command answers to bad usage. */
export const SERVICE_EXIT = { OK: 0, USAGE: 2, CONFIG: 78 } as const;

/** The `version` of a package.json (a binary passes its own: `new URL('../package.json', import.meta.url)`). */
export function packageVersion(manifest: URL): string {
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}

export function serviceHelp(c: ServiceCommand): string {
  const width = Math.max(...Object.keys(c.envKeys).map((n) => n.length));
  return [
    `${c.name} — ${c.summary}`,
    '',
    `Usage: ${c.name} [--config FILE]`,
    '',
    'Options:',
    `  --config FILE  a YAML (.yaml, .yml) or JSON config file (default: $${c.configVariable})`,
    '  -h, --help     show this help and exit',
    '  --version      print the version and exit',
    '',
    `Config keys: see the JSON Schema ${c.schema} (a config may name it as "$schema").`,
    'Environment variables (they win over the file; …_FILE ones read the value from that file):',
    ...Object.entries(c.envKeys).map(([name, spec]) => `  ${name.padEnd(width)}  ${spec.key}`),
    ...(c.notes?.length ? ['', ...c.notes] : []),
    '',
    `Exit codes: ${SERVICE_EXIT.OK} stopped (SIGTERM, SIGINT), ${SERVICE_EXIT.USAGE} usage error, ${SERVICE_EXIT.CONFIG} invalid config.`,
  ].join('\n');
}

/** Reads argv; prints help, the version or a usage error itself. */
export function serviceArgs(
  argv: readonly string[],
  c: ServiceCommand,
  io: { stdout: { write(s: string): unknown }; stderr: { write(s: string): unknown } },
  env: Record<string, string | undefined>,
): ServiceArgs {
  let values: { config?: string | undefined; help?: boolean | undefined; version?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    io.stderr.write(`${c.name}: ${(err as Error).message.split('\n')[0]} (run "${c.name} --help")\n`);
    return { exitCode: SERVICE_EXIT.USAGE };
  }
  if (values.help) {
    io.stdout.write(`${serviceHelp(c)}\n`);
    return { exitCode: SERVICE_EXIT.OK };
  }
  if (values.version) {
    io.stdout.write(`${c.version}\n`);
    return { exitCode: SERVICE_EXIT.OK };
  }
  return { config: values.config ?? (env[c.configVariable] || undefined) };
}

/**
 * What a service starts with: its config, read as the command line says (`--config FILE`, else the
 * variable), or the process ends here — after `--help` or `--version` (0), a usage error (2) or an
 * invalid config (78), each said on the right stream.
 */
export function serviceConfig<C>(
  c: ServiceCommand,
  load: (env: NodeJS.ProcessEnv, file: string | undefined) => C,
): C {
  const args = serviceArgs(process.argv.slice(2), c, process, process.env);
  if ('exitCode' in args) process.exit(args.exitCode);
  try {
    return load(process.env, args.config);
  } catch (err) {
    process.stderr.write(`${c.name}: ${err instanceof ConfigError ? err.message : String(err)}\n`);
    process.exit(SERVICE_EXIT.CONFIG);
  }
}
