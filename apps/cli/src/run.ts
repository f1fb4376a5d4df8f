import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULT_KEY_PREFIX, EXIT_CODES, redisUrlProblem } from '@recfleet/contract';
import { COMMANDS, GLOBAL_FLAGS, type CommandSpec, type FlagSpec } from './commands.js';
import { CliContext, DEFAULT_REDIS_URL, type CliIo, type FleetAccess } from './context.js';
import { asCliError, EXIT_CODE_MEANINGS, usageError } from './errors.js';

function flagLines(flags: readonly FlagSpec[]): string[] {
  const names = flags.map(
    (f) => `${f.short ? `-${f.short}, ` : '    '}--${f.name}${f.value ? ` ${f.value}` : ''}`,
  );
  const width = Math.max(...names.map((n) => n.length));
  return flags.map((f, i) => `  ${names[i]!.padEnd(width)}  ${f.help}`);
}

const EXIT_CODES_HELP = [
  'Exit codes:',
  ...(Object.keys(EXIT_CODES) as (keyof typeof EXIT_CODES)[]).map(
    (name) => `  ${EXIT_CODES[name]}  ${EXIT_CODE_MEANINGS[name]}`,
  ),
];

export function toolHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'recfleet — start, stop and follow recordings of a recfleet fleet',
    '',
    'Usage: recfleet [options] <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options (every command):',
    ...flagLines(GLOBAL_FLAGS),
    '',
    ...EXIT_CODES_HELP,
    '',
    'Run "recfleet <command> --help" for the options of a command. Through the HTTP API instead of Redis:',
    '--api-url <url> (or $RECFLEET_API_URL) with the key in $RECFLEET_API_KEY (or a file: $RECFLEET_API_KEY_FILE).',
  ].join('\n');
}

export function commandHelp(spec: CommandSpec): string {
  return [
    `recfleet ${spec.name} — ${spec.summary}`,
    '',
    `Usage: recfleet ${spec.name}${spec.args.length ? ` ${spec.args.join(' ')}` : ''} [options]`,
    '',
    ...(spec.flags.length ? ['Options:', ...flagLines(spec.flags), ''] : []),
    'Common options:',
    ...flagLines(GLOBAL_FLAGS),
    '',
    'Examples:',
    ...spec.examples.map((e) => `  ${e}`),
    '',
    ...EXIT_CODES_HELP,
  ].join('\n');
}

function parseOptions(
  flags: readonly FlagSpec[],
): Record<string, { type: 'string' | 'boolean'; short?: string }> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const f of flags) options[f.name] = f.short ? { type: f.type, short: f.short } : { type: f.type };
  return options;
}

/**
 * The command line with the global flags that stand before the command moved after it
 * (`recfleet --redis-url X status id` is `recfleet status id --redis-url X`).
 */
export function commandFirst(argv: readonly string[]): string[] {
  const before: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    const name = /^--([^=]+)/.exec(arg)?.[1];
    const flag = GLOBAL_FLAGS.find(
      (f) => f.name === name || (f.short !== undefined && arg === `-${f.short}`),
    );
    if (!flag || name === 'help' || arg === '-h') break;
    before.push(arg);
    if (flag.type === 'string' && !arg.includes('=') && i + 1 < argv.length) before.push(argv[++i]!);
  }
  return [...argv.slice(i), ...before];
}

/** Runs one command line; returns the exit code. Never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  const [first, ...rest] = commandFirst(argv);
  let ctx: CliContext | undefined;
  try {
    if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
      const topic = first === 'help' ? rest[0] : undefined;
      const spec = COMMANDS.find((c) => c.name === topic);
      if (topic !== undefined && !spec) throw usageError(`unknown command "${topic}"`);
      io.stdout.write(`${spec ? commandHelp(spec) : toolHelp()}\n`);
      return first === undefined ? EXIT_CODES.USAGE : EXIT_CODES.OK;
    }
    if (first === '--version') {
      io.stdout.write(`${await version()}\n`);
      return EXIT_CODES.OK;
    }
    const spec = COMMANDS.find((c) => c.name === first);
    if (!spec) {
      throw usageError(
        first.startsWith('-')
          ? `expected a command before ${first} (run "recfleet --help")`
          : `unknown command "${first}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})`,
      );
    }
    let parsed;
    try {
      parsed = parseArgs({
        args: rest,
        options: parseOptions([...GLOBAL_FLAGS, ...spec.flags]),
        allowPositionals: true,
        strict: true,
      });
    } catch (e) {
      const message = e instanceof Error ? e.message.split('\n')[0]! : String(e);
      throw usageError(
        `${message.replace(/\. To specify a positional argument.*$/, '')} (run "recfleet ${spec.name} --help")`,
      );
    }
    const values = parsed.values as Record<string, string | boolean | undefined>;
    if (values.help) {
      io.stdout.write(`${commandHelp(spec)}\n`);
      return EXIT_CODES.OK;
    }
    ctx = new CliContext(io, fleetAccess(values, io.env), values.json === true);
    return await spec.run(ctx, values, parsed.positionals);
  } catch (e) {
    // The exit code is the error's category's (RedisUnavailableError: 5, RecordingNotFoundError: 4, …).
    const error = asCliError(e);
    io.stderr.write(`recfleet: ${error.message}\n`);
    for (const line of error.details) io.stderr.write(`recfleet: ${line}\n`);
    if (json) {
      io.stdout.write(
        `${JSON.stringify({ error: { code: error.code, message: error.message, exitCode: error.exitCode, ...error.data } })}\n`,
      );
    }
    return error.exitCode;
  } finally {
    await ctx?.close();
  }
}

/**
 * Redis or the HTTP API, as the flags and the environment say: a flag decides (both is a usage error);
 * without one, RECFLEET_API_URL chooses the API, else Redis (RECFLEET_REDIS_URL or the default).
 */
function fleetAccess(
  values: Record<string, string | boolean | undefined>,
  env: Record<string, string | undefined>,
): FleetAccess {
  const flag = (name: string): string | undefined =>
    typeof values[name] === 'string' ? (values[name] as string) : undefined;
  if (flag('redis-url') !== undefined && flag('api-url') !== undefined) {
    throw usageError('--redis-url and --api-url exclude each other: the CLI talks to Redis or to the API');
  }
  const apiUrl =
    flag('api-url') ?? (flag('redis-url') === undefined ? env.RECFLEET_API_URL || undefined : undefined);
  if (apiUrl !== undefined) {
    if (!/^https?:\/\/[^/\s]+/.test(apiUrl))
      throw usageError(`--api-url: must be an http(s) URL (got "${apiUrl}")`);
    return { kind: 'api', apiUrl, apiKey: apiKey(env) };
  }
  const redisUrl = flag('redis-url') ?? (env.RECFLEET_REDIS_URL || DEFAULT_REDIS_URL);
  const urlProblem = redisUrlProblem(redisUrl);
  if (urlProblem !== undefined) throw usageError(`--redis-url: ${urlProblem}`);
  const keyPrefix = flag('key-prefix') ?? env.RECFLEET_KEY_PREFIX ?? DEFAULT_KEY_PREFIX;
  if (!/^[^\s:]+$/.test(keyPrefix))
    throw usageError(`--key-prefix: must be non-empty, without spaces or ':' (got "${keyPrefix}")`);
  return { kind: 'redis', redisUrl, keyPrefix };
}

/** The API key: RECFLEET_API_KEY, or the file RECFLEET_API_KEY_FILE names (never a flag: argv is public). */
function apiKey(env: Record<string, string | undefined>): string {
  if (env.RECFLEET_API_KEY) return env.RECFLEET_API_KEY;
  const file = env.RECFLEET_API_KEY_FILE;
  if (!file) throw usageError('--api-url needs an API key: set RECFLEET_API_KEY (or RECFLEET_API_KEY_FILE)');
  try {
    const key = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    if (key) return key;
  } catch (err) {
    throw usageError(`RECFLEET_API_KEY_FILE: cannot read ${file}: ${(err as Error).message}`);
  }
  throw usageError(`RECFLEET_API_KEY_FILE: ${file} is empty`);
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
