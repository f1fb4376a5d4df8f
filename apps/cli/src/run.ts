import { parseArgs } from 'node:util';
import { DEFAULT_KEY_PREFIX, EXIT_CODES, redisUrlProblem } from '@recfleet/contract';
import { COMMANDS, GLOBAL_FLAGS, type CommandSpec, type FlagSpec } from './commands.js';
import { CliContext, DEFAULT_REDIS_URL, type CliIo } from './context.js';
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
    'Usage: recfleet <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options (every command):',
    ...flagLines(GLOBAL_FLAGS),
    '',
    ...EXIT_CODES_HELP,
    '',
    'Run "recfleet <command> --help" for the options of a command.',
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

/** Runs one command line; returns the exit code. Never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  const [first, ...rest] = argv;
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
    const redisUrl =
      (typeof values['redis-url'] === 'string' ? values['redis-url'] : undefined) ??
      io.env.RECFLEET_REDIS_URL ??
      DEFAULT_REDIS_URL;
    const urlProblem = redisUrlProblem(redisUrl);
    if (urlProblem !== undefined) throw usageError(`--redis-url: ${urlProblem}`);
    const keyPrefix =
      (typeof values['key-prefix'] === 'string' ? values['key-prefix'] : undefined) ??
      io.env.RECFLEET_KEY_PREFIX ??
      DEFAULT_KEY_PREFIX;
    if (!/^[^\s:]+$/.test(keyPrefix))
      throw usageError(`--key-prefix: must be non-empty, without spaces or ':' (got "${keyPrefix}")`);
    ctx = new CliContext(io, redisUrl, values.json === true, keyPrefix);
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

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
