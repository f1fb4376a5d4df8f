import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import packageRoot from './package-root.cjs';

/**
 * Every Redis transition of recfleet that changes more than one key, or must compare before it writes,
 * is a Lua file in `packages/contract/lua/`, named `<name>-<number of KEYS>.lua` with a header listing
 * KEYS, ARGV and the output (BullMQ's convention). They are registered once per connection with
 * ioredis's `defineCommand`, so calls go by EVALSHA (the script text is sent once, on NOSCRIPT).
 */
export const REDIS_SCRIPTS = {
  startRecording: 5,
  abandonStart: 5,
  refuseStart: 4,
  releaseActiveRecording: 1,
  fleetTick: 1,
  claimRecording: 2,
  heartbeat: 1,
  takeStandby: 1,
  appendEvent: 2,
  updateRecord: 1,
  handOffRecording: 2,
  finishRecording: 2,
  reserveSegment: 2,
  addSegment: 3,
  renewLock: 1,
  releaseLock: 1,
  requestControl: 1,
  failQueuedRecording: 2,
  putUser: 2,
  updateSubscriptions: 1,
} as const satisfies Record<string, number>;
export type RedisScriptName = keyof typeof REDIS_SCRIPTS;

let sources: Map<string, string> | undefined;
function scriptSources(): Map<string, string> {
  if (!sources) {
    sources = new Map();
    const luaDir = join(packageRoot.contractRoot(), 'lua');
    for (const file of readdirSync(luaDir)) {
      const m = /^([A-Za-z]+)-(\d+)\.lua$/.exec(file);
      if (m) sources.set(`${m[1]}-${m[2]}`, readFileSync(join(luaDir, file), 'utf8'));
    }
  }
  return sources;
}

/** The source of one script (for tests and documents). */
export function redisScriptSource(name: RedisScriptName): string {
  const source = scriptSources().get(`${name}-${REDIS_SCRIPTS[name]}`);
  if (source === undefined) throw new Error(`lua/${name}-${REDIS_SCRIPTS[name]}.lua is missing`);
  return source;
}

type ScriptCommand = (...keysAndArgs: (string | number)[]) => Promise<unknown>;
const registered = new WeakSet<Redis>();

function register(redis: Redis): void {
  if (registered.has(redis)) return;
  for (const [name, numberOfKeys] of Object.entries(REDIS_SCRIPTS) as [RedisScriptName, number][]) {
    redis.defineCommand(name, { numberOfKeys, lua: redisScriptSource(name) });
  }
  registered.add(redis);
}

/**
 * Runs a registered script on `redis`. The number of keys is checked against the file's name, so a call
 * that passes a key as an argument (or the other way round) fails here rather than inside Redis.
 */
export function runScript(
  redis: Redis,
  name: RedisScriptName,
  keys: readonly string[],
  args: readonly (string | number)[] = [],
): Promise<unknown> {
  if (keys.length !== REDIS_SCRIPTS[name]) {
    throw new Error(`${name} takes ${REDIS_SCRIPTS[name]} keys, got ${keys.length}`);
  }
  register(redis);
  const command = (redis as unknown as Record<string, ScriptCommand>)[name]!;
  return command.call(redis, ...keys, ...args);
}
