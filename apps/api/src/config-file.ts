import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { RecfleetError } from '@recfleet/contract';
import { resolveSecret, type SecretRef, StorageError } from '@recfleet/storage';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';

/**
 * How the API's processes read their config: a YAML or JSON file (`--config FILE`, or a variable naming
 * it), then the environment, which wins; secrets given as `{ "file": … }` / `{ "env": … }` references
 * (or `…_FILE` variables) are resolved on the host, as storage secrets are. Every refusal names the key,
 * and where it came from; none echoes a secret.
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
 * otherwise. A `$schema` key is allowed (editors use it) and ignored.
 */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = /^\.ya?ml$/i.test(extname(file)) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      `config file ${file} is not valid ${/ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(err as Error).message.split('\n')[0]}`,
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

/** The value of a variable as its key takes it. */
function envValue(name: string, value: string, spec: EnvKey): unknown {
  let text = value;
  if (spec.file) {
    try {
      text = resolveSecret({ file: value }, {}, name);
    } catch (err) {
      throw new ConfigError(err instanceof StorageError ? err.message : String(err));
    }
  }
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
  const where = o.file ? ` (${o.file})` : '';
  const lines = parsed.error.issues.map((i) => {
    const path = i.path.map(String);
    const key =
      i.code === 'unrecognized_keys'
        ? i.keys.map((k) => [...path, k].join('.')).join(', ')
        : path.join('.') || '(root)';
    const source = fromEnv.get(path[0] ?? '') ?? fromEnv.get(path.slice(0, 2).join('.'));
    return `  ${key}${source ? ` (from ${source})` : ''}: ${i.message}`;
  });
  throw new ConfigError(`invalid ${o.what}${where}:\n${lines.join('\n')}`);
}

/**
 * A secret of the config as the process uses it: a literal, or a `{ "file" }` / `{ "env" }` reference
 * resolved now. `field` names the key in errors; the secret itself is never echoed.
 */
export function configSecret(ref: SecretRef, field: string, env: Record<string, string | undefined>): string {
  try {
    return resolveSecret(ref, env, field);
  } catch (err) {
    throw new ConfigError(err instanceof StorageError ? err.message : String(err));
  }
}
