import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { RecfleetError } from '../error-registry.js';

/**
 * How recfleet's processes (`recfleet-worker`, `recfleet-api`, `recfleet-webhooks`) read their config:
 * a YAML or JSON file (`--config FILE`, or a variable naming it), then the environment, which wins.
 * Every refusal names the key, and where it came from; none echoes a secret.
 */

/** A config that breaks its schema (or cannot be read); the message names every bad key. */
export class ConfigError extends RecfleetError {
  declare readonly code: 'CONFIG_INVALID';
  constructor(message: string) {
    super('CONFIG_INVALID', message);
    this.name = 'ConfigError';
  }
}

/**
 * A config file's object: YAML for `.yaml`/`.yml` (what MediaMTX, SRS and LiveKit users write), JSON
 * otherwise.
 */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  const yaml = /^\.ya?ml$/i.test(extname(file));
  let value: unknown;
  try {
    value = yaml ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      `config file ${file} is not valid ${yaml ? 'YAML' : 'JSON'}: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`config file ${file} must hold an object (a mapping of keys)`);
  }
  return value as Record<string, unknown>;
}

/** How an environment variable sets a config key. */
export interface EnvKey {
  /** Dotted key, e.g. `webhooks.secret`. */
  key: string;
  /** How the text is read (default: as it is). */
  as?: 'number' | 'list' | 'lines';
  /** A `…_FILE` variable: the value is read from the file it names (a mounted secret). */
  file?: boolean;
}

/**
 * The text of a mounted secret (Docker, Kubernetes): one trailing newline dropped, since secret files
 * are usually written with one (echo, kubectl create secret --from-file). `field` names it in errors.
 */
export function readSecretFile(path: string, field: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${field}: cannot read secret file ${path}: ${(err as Error).message}`);
  }
  const value = text.replace(/\r?\n$/, '');
  if (value === '') throw new ConfigError(`${field}: secret file ${path} is empty`);
  return value;
}

/** The value of a variable as its key takes it. */
function envValue(name: string, value: string, spec: EnvKey): unknown {
  const text = spec.file ? readSecretFile(value, name) : value;
  if (spec.as === 'number') return /^\d+$/.test(text) ? Number(text) : text;
  if (spec.as === 'list' || spec.as === 'lines') {
    return text
      .split(spec.as === 'list' ? /[,\n]/ : /\r?\n/)
      .map((k) => k.trim())
      .filter(Boolean);
  }
  return text;
}

function setKey(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    node[part] = typeof next === 'object' && next !== null && !Array.isArray(next) ? { ...next } : {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

export interface LoadConfigOptions<S extends z.ZodType> {
  /** What the config is, for messages (`API config`). */
  what: string;
  schema: S;
  /** The config file, if any. */
  file?: string | undefined;
  env: Record<string, string | undefined>;
  /** Variables and the key each sets; the environment wins over the file. */
  envKeys: Readonly<Record<string, EnvKey>>;
}

/** Reads the file and the environment and validates them with `schema`; throws ConfigError naming every bad key. */
export function loadConfig<S extends z.ZodType>(o: LoadConfigOptions<S>): z.output<S> {
  const raw: Record<string, unknown> = o.file ? readConfigFile(o.file) : {};
  // Editors' key, allowed in every config (its schemas show it) and not part of what a process reads.
  delete raw.$schema;
  const fromEnv = new Map<string, string>();
  for (const [name, spec] of Object.entries(o.envKeys)) {
    const value = o.env[name];
    if (value === undefined || value === '') continue;
    fromEnv.set(spec.key, name);
    setKey(raw, spec.key, envValue(name, value, spec));
  }
  const parsed = o.schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => {
    const path = i.path.map(String);
    const key =
      i.code === 'unrecognized_keys'
        ? i.keys.map((k) => [...path, k].join('.')).join(', ')
        : path.join('.') || '(root)';
    const source =
      fromEnv.get(path.join('.')) ?? fromEnv.get(path.slice(0, 2).join('.')) ?? fromEnv.get(path[0] ?? '');
    return `  ${key}${source ? ` (from ${source})` : ''}: ${i.message}`;
  });
  throw configProblems(o.what, o.file, lines);
}

/** One ConfigError for a config's problems, each line naming a key (`  key: problem`). */
export function configProblems(
  what: string,
  file: string | undefined,
  lines: readonly string[],
): ConfigError {
  return new ConfigError(`invalid ${what}${file ? ` (${file})` : ''}:\n${lines.join('\n')}`);
}

/**
 * A config's JSON Schema (draft 2020-12), generated from its zod schema: what a config file may hold,
 * published beside the job contract's (`@recfleet/contract/schema/<name>.schema.json`, its `$id`).
 * `command` is the process, named in the description (`recfleet-worker --help` lists the variables).
 */
export function configJsonSchema(schema: z.ZodType, id: string, command: string): Record<string, unknown> {
  const { $schema, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
  const title = `${command} config`;
  return {
    $schema,
    $id: id,
    title,
    description: `The ${title} file (YAML or JSON, --config FILE). Environment variables override its keys (${command} --help lists them).`,
    ...rest,
  };
}
