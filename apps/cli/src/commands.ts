import {
  DEFAULT_RECORDING_MODE,
  DEFAULT_STREAM_TYPES,
  describeNumberRule,
  EXIT_CODES,
  type FieldProblem,
  InvalidRecordingJobError,
  MAX_DURATION_SECONDS_RULE,
  MAX_IDLE_SECONDS_RULE,
  MAX_USERS_RULE,
  REDUNDANCY_RULE,
  parseStartRecordingRequest,
  RECORDING_MODES,
  RECORDING_STATES,
  SEGMENT_SECONDS_RULE,
  STREAM_TYPES,
  SUBSCRIPTION_FIELDS,
  UID_LIST_MAX,
  UID_RULE,
} from '@recfleet/contract';
import {
  LIST_LIMIT_RULE,
  type ListFilter,
  parseUpdate,
  type RecordingSummary,
  type StartRequest,
  storageFailureText,
} from '@recfleet/client';
import type { CliContext } from './context.js';
import { CliError, usageError } from './errors.js';
import {
  formatBytes,
  formatProgress,
  formatSeconds,
  formatSubscriptions,
  formatTime,
  listRows,
  table,
  userRows,
} from './format.js';
import { watchRecording } from './watch.js';

export interface FlagSpec {
  name: string;
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder shown in help (`<seconds>`). */
  value?: string;
  help: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** Positional arguments, e.g. `<id>`. */
  args: string[];
  flags: FlagSpec[];
  examples: string[];
  run(
    ctx: CliContext,
    values: Record<string, string | boolean | undefined>,
    positionals: string[],
  ): Promise<number>;
}

export const GLOBAL_FLAGS: FlagSpec[] = [
  {
    name: 'redis-url',
    type: 'string',
    value: '<url>',
    help: 'Redis of the fleet (default: $RECFLEET_REDIS_URL or redis://127.0.0.1:6379)',
  },
  {
    name: 'api-url',
    type: 'string',
    value: '<url>',
    help: "the fleet's HTTP API instead of Redis (default: $RECFLEET_API_URL), key in $RECFLEET_API_KEY or $RECFLEET_API_KEY_FILE",
  },
  {
    name: 'key-prefix',
    type: 'string',
    value: '<prefix>',
    help: "the fleet's key prefix (default: $RECFLEET_KEY_PREFIX or recfleet; {recfleet} on Redis Cluster)",
  },
  {
    name: 'json',
    type: 'boolean',
    help: 'machine-readable output: one JSON document (JSON lines for watch)',
  },
  { name: 'help', short: 'h', type: 'boolean', help: 'show help' },
];

/**
 * A flag's value as the request gets it: `number` and `uids` (comma-separated) values that are not
 * numbers are passed on as they are, for the contract's schema to refuse with the field's name.
 */
type FlagKind = 'string' | 'number' | 'uids';

interface FieldFlag {
  flag: FlagSpec;
  field: string;
  kind: FlagKind;
}

/** `subscribeAudioUids` → `subscribe-audio-uids`. */
function flagName(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The help of a subscription list's flag (start and update). */
function subscriptionHelp(field: (typeof SUBSCRIPTION_FIELDS)[number]): string {
  const kind = field.includes('Audio') ? 'audio' : 'video';
  const who = field.startsWith('subscribe') ? 'only these users' : 'every user but these';
  return `record the ${kind} of ${who}: comma-separated uids, at most ${UID_LIST_MAX} (default: every user)`;
}

/** Start flags and the job-contract field each one sets. */
const START_FIELDS: FieldFlag[] = [
  {
    flag: { name: 'app-id', type: 'string', value: '<id>', help: 'application id (required)' },
    field: 'appId',
    kind: 'string',
  },
  {
    flag: { name: 'channel', type: 'string', value: '<name>', help: 'channel to record (required)' },
    field: 'channel',
    kind: 'string',
  },
  {
    flag: {
      name: 'uid',
      type: 'string',
      value: '<n>',
      help: `the recorder's user id in the channel, ${describeNumberRule(UID_RULE)} (required)`,
    },
    field: 'uid',
    kind: 'number',
  },
  {
    flag: { name: 'token', type: 'string', value: '<token>', help: 'channel join token (never printed)' },
    field: 'token',
    kind: 'string',
  },
  {
    flag: {
      name: 'profile',
      type: 'string',
      value: '<name>',
      help: 'storage profile configured on the workers (required)',
    },
    field: 'storage.profile',
    kind: 'string',
  },
  {
    flag: { name: 'prefix', type: 'string', value: '<path>', help: 'object key prefix inside the profile' },
    field: 'storage.prefix',
    kind: 'string',
  },
  {
    flag: {
      name: 'segment-seconds',
      type: 'string',
      value: '<s>',
      help: `segment length in seconds, ${describeNumberRule(SEGMENT_SECONDS_RULE)}`,
    },
    field: 'recordingConfig.segmentSeconds',
    kind: 'number',
  },
  {
    flag: {
      name: 'max-idle-seconds',
      type: 'string',
      value: '<s>',
      help: `stop after the channel has had no media this long, ${describeNumberRule(MAX_IDLE_SECONDS_RULE)}`,
    },
    field: 'recordingConfig.maxIdleSeconds',
    kind: 'number',
  },
  {
    flag: {
      name: 'stream-types',
      type: 'string',
      value: '<t>',
      help: `${STREAM_TYPES.join(' | ')} (default ${DEFAULT_STREAM_TYPES})`,
    },
    field: 'recordingConfig.streamTypes',
    kind: 'string',
  },
  {
    flag: {
      name: 'max-duration-seconds',
      type: 'string',
      value: '<s>',
      help: `hard limit on the recorded duration, ${describeNumberRule(MAX_DURATION_SECONDS_RULE)}`,
    },
    field: 'recordingConfig.maxDurationSeconds',
    kind: 'number',
  },
  {
    flag: {
      name: 'recording-id',
      type: 'string',
      value: '<id>',
      help: 'recording id (default: generated); starting an existing id again is a no-op',
    },
    field: 'recordingId',
    kind: 'string',
  },
  {
    flag: {
      name: 'source-url',
      type: 'string',
      value: '<url>',
      help: "record this one stream instead of the channel's users (no channel-only options then)",
    },
    field: 'sourceUrl',
    kind: 'string',
  },
  {
    flag: {
      name: 'mode',
      type: 'string',
      value: '<mode>',
      help: `what a channel recording makes of its users: ${RECORDING_MODES.join(' | ')} (default ${DEFAULT_RECORDING_MODE}: a playlist per user)`,
    },
    field: 'recordingConfig.mode',
    kind: 'string',
  },
  {
    flag: {
      name: 'max-users',
      type: 'string',
      value: '<n>',
      help: `users recorded at once, ${describeNumberRule(MAX_USERS_RULE)}`,
    },
    field: 'recordingConfig.maxUsers',
    kind: 'number',
  },
  {
    flag: {
      name: 'redundancy',
      type: 'string',
      value: '<n>',
      help: `${REDUNDANCY_RULE.description}, ${describeNumberRule(REDUNDANCY_RULE)}`,
    },
    field: 'recordingConfig.redundancy',
    kind: 'number',
  },
  ...SUBSCRIPTION_FIELDS.map((field): FieldFlag => ({
    flag: { name: flagName(field), type: 'string', value: '<uids>', help: subscriptionHelp(field) },
    field: `recordingConfig.${field}`,
    kind: 'uids',
  })),
  {
    flag: {
      name: 'callback-url',
      type: 'string',
      value: '<url>',
      help: 'webhook URL that receives every event of the recording',
    },
    field: 'callbackUrl',
    kind: 'string',
  },
];

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    node[part] ??= {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

/** A number flag's value: a number when it reads as one, else the text (refused by the schema). */
function numberValue(raw: string): number | string {
  const trimmed = raw.trim();
  return trimmed !== '' && Number.isFinite(Number(trimmed)) ? Number(trimmed) : raw;
}

/** A uid list flag's value: `1,2,3` → [1, 2, 3]; an empty value is the empty list. */
function uidListValue(raw: string): (number | string)[] {
  return raw.trim() === '' ? [] : raw.split(',').map(numberValue);
}

function flagValue(kind: FlagKind, raw: string): unknown {
  if (kind === 'number') return numberValue(raw);
  if (kind === 'uids') return uidListValue(raw);
  return raw;
}

/** Builds a request from flags: each given flag sets its field (see FlagKind for how values are read). */
export function requestFromFlags(
  fields: readonly FieldFlag[],
  values: Record<string, string | boolean | undefined>,
  base: Record<string, unknown> = {},
): { request: Record<string, unknown>; given: Set<string> } {
  const request = base;
  const given = new Set<string>();
  for (const { flag, field, kind } of fields) {
    const raw = values[flag.name];
    if (typeof raw !== 'string') continue;
    given.add(field);
    setPath(request, field, flagValue(kind, raw));
  }
  return { request, given };
}

/** Builds a start request from flags. */
export function startRequestFromFlags(values: Record<string, string | boolean | undefined>): {
  request: Record<string, unknown>;
  given: Set<string>;
} {
  return requestFromFlags(START_FIELDS, values, { storage: {} });
}

/**
 * The refused fields of a request built from flags, each with the flag that sets it (a uid list's entry
 * `subscribeAudioUids.1` is its list's flag) and, for a value that is not a number, what was given.
 */
function invalidRequest(
  what: string,
  fields: readonly FieldFlag[],
  problems: readonly FieldProblem[],
  given: Set<string>,
  values: Record<string, string | boolean | undefined>,
): CliError {
  const explained = problems.map((p) => {
    const spec = fields.find((f) => p.field === f.field || p.field.startsWith(`${f.field}.`));
    const flag = spec ? `--${spec.flag.name}` : undefined;
    const raw = spec ? values[spec.flag.name] : undefined;
    const entry = spec?.kind === 'uids' && p.field !== spec.field ? Number(p.field.split('.').at(-1)) : -1;
    const item = typeof raw === 'string' && entry >= 0 ? raw.split(',')[entry] : raw;
    let rule = p.rule;
    if (spec && !given.has(spec.field)) rule = 'is required';
    else if (
      (spec?.kind === 'number' || entry >= 0) &&
      typeof item === 'string' &&
      !Number.isFinite(Number(item.trim() || 'x'))
    ) {
      rule = `must be a number (got ${JSON.stringify(item)})`;
    }
    return { field: p.field, rule, ...(flag ? { flag } : {}) };
  });
  return new CliError(
    'INVALID_JOB',
    `invalid ${what} (${problems.length} problem${problems.length === 1 ? '' : 's'})`,
    explained.map((p) => `invalid ${p.flag ? `${p.flag} (${p.field})` : p.field}: ${p.rule}`),
    { problems: explained },
  );
}

function invalidJob(
  problems: readonly FieldProblem[],
  given: Set<string>,
  values: Record<string, string | boolean | undefined>,
): CliError {
  return invalidRequest('recording request', START_FIELDS, problems, given, values);
}

function oneId(positionals: string[], command: string): string {
  if (positionals.length === 0)
    throw usageError(`${command} needs a recording id (recfleet ${command} <id>)`);
  if (positionals.length > 1)
    throw usageError(`${command} takes one recording id, got ${positionals.length}`);
  return positionals[0]!;
}

const start: CommandSpec = {
  name: 'start',
  summary: 'start recording a channel; prints the recording id',
  args: [],
  flags: START_FIELDS.map((f) => f.flag),
  examples: [
    'recfleet start --app-id demo --channel lobby --uid 1001 --profile local --segment-seconds 4',
    'id=$(recfleet start --app-id demo --channel lobby --uid 1001 --token "$TOKEN" --profile s3 --prefix 2025/06)',
  ],
  async run(ctx, values, positionals) {
    if (positionals.length > 0) throw usageError(`start takes no arguments, got ${positionals.join(' ')}`);
    const { request, given } = startRequestFromFlags(values);
    // Validated here first: a bad request is exit code 2 even when Redis is down.
    try {
      parseStartRecordingRequest(request);
    } catch (e) {
      if (e instanceof InvalidRecordingJobError) throw invalidJob(e.problems, given, values);
      throw e;
    }
    let handle;
    try {
      handle = await ctx.client().start(request as StartRequest);
    } catch (e) {
      if (e instanceof InvalidRecordingJobError) throw invalidJob(e.problems, given, values);
      throw e;
    }
    if (ctx.json) ctx.outJson(handle);
    else {
      ctx.out(handle.recordingId);
      if (!handle.created)
        ctx.err(`recording ${handle.recordingId} already existed; nothing new was started`);
    }
    return EXIT_CODES.OK;
  },
};

function controlCommand(name: 'stop' | 'cancel', summary: string): CommandSpec {
  return {
    name,
    summary,
    args: ['<id>'],
    flags: [],
    examples: [`recfleet ${name} rec-5f0c9a1b2c3d4e5f`],
    async run(ctx, _values, positionals) {
      const id = oneId(positionals, name);
      const client = ctx.client();
      // A recording that has ended is refused (RECORDING_ENDED, exit code 6), as the API's 409.
      const outcome = await (name === 'stop' ? client.stop(id) : client.cancel(id));
      if (ctx.json) ctx.outJson(outcome);
      else ctx.out(`${name} requested for ${id} (state: ${outcome.state})`);
      return EXIT_CODES.OK;
    },
  };
}

/** Update flags: one per subscription list; `none` removes the list (every user again). */
const UPDATE_FIELDS: FieldFlag[] = SUBSCRIPTION_FIELDS.map((field) => ({
  flag: {
    name: flagName(field),
    type: 'string',
    value: '<uids|none>',
    help: `${subscriptionHelp(field).replace(/ \(default: every user\)$/, '')}; "none" removes the list`,
  },
  field,
  kind: 'uids',
}));

const update: CommandSpec = {
  name: 'update',
  summary: "change a running channel recording's subscriptions (within a second)",
  args: ['<id>'],
  flags: UPDATE_FIELDS.map((f) => f.flag),
  examples: [
    'recfleet update rec-5f0c9a1b2c3d4e5f --subscribe-audio-uids 1,2 --unsubscribe-video-uids 3',
    "recfleet update rec-5f0c9a1b2c3d4e5f --subscribe-audio-uids none   # every user's audio again",
  ],
  async run(ctx, values, positionals) {
    const id = oneId(positionals, 'update');
    const { request, given } = requestFromFlags(UPDATE_FIELDS, values);
    // `none` is the JSON null of the update: the list is removed. An empty value is the empty list.
    for (const f of UPDATE_FIELDS) {
      if (typeof values[f.flag.name] === 'string' && values[f.flag.name] === 'none') request[f.field] = null;
    }
    const refused = (e: unknown): unknown =>
      e instanceof InvalidRecordingJobError
        ? invalidRequest('update', UPDATE_FIELDS, e.problems, given, values)
        : e;
    // Validated here first: a bad update is exit code 2 even when Redis is down.
    try {
      parseUpdate(request);
    } catch (e) {
      throw refused(e);
    }
    const outcome = await ctx
      .client()
      .update(id, request)
      .catch((e: unknown) => {
        throw refused(e);
      });
    if (ctx.json) ctx.outJson(outcome);
    else {
      ctx.out(
        `update stored for ${id} (version ${outcome.version}): ${formatSubscriptions(outcome.subscriptions)}`,
      );
    }
    return EXIT_CODES.OK;
  },
};

const status: CommandSpec = {
  name: 'status',
  summary: "show a recording's state, progress and result",
  args: ['<id>'],
  flags: [],
  examples: [
    'recfleet status rec-5f0c9a1b2c3d4e5f',
    "recfleet status rec-5f0c9a1b2c3d4e5f --json | jq -r '.state'",
  ],
  async run(ctx, _values, positionals) {
    const s = await ctx.client().get(oneId(positionals, 'status'));
    if (ctx.json) {
      ctx.outJson({
        recordingId: s.recordingId,
        state: s.state,
        jobState: s.jobState,
        appId: s.appId,
        channel: s.channel,
        uid: s.uid,
        createdAt: s.createdAt,
        updatedAt: s.updatedAt,
        storageProfile: s.storageProfile,
        reason: s.reason,
        kind: s.kind ?? null,
        segmentsIndexed: s.segmentsIndexed,
        storageError: s.storageError ?? null,
        progress: s.progress ?? null,
        result: s.result ?? null,
        error: s.error ?? null,
        ...(s.kind === 'channel'
          ? {
              subscriptions: s.subscriptions ?? null,
              subscriptionsVersion: s.subscriptionsVersion ?? null,
              manifestKey: s.manifestKey ?? null,
              manifestLocation: s.manifestLocation ?? null,
              users: s.users ?? [],
            }
          : {}),
      });
      return EXIT_CODES.OK;
    }
    const lines: [string, string][] = [
      ['state', s.state],
      ['job', s.jobState],
      ['channel', `${s.channel} (app ${s.appId}, uid ${s.uid})`],
      ['created', formatTime(s.createdAt)],
      ['updated', formatTime(s.updatedAt)],
    ];
    if (s.storageProfile) lines.push(['storage', s.storageProfile]);
    if (s.storageError) {
      const message = s.storageError.message ? `: ${s.storageError.message}` : '';
      lines.push(['storage', `${storageFailureText(s.storageError)}${message}`]);
    }
    if (s.progress) lines.push(['progress', formatProgress(s.progress)]);
    if (s.reason) lines.push(['reason', s.reason]);
    if (s.result) {
      lines.push([
        'result',
        `${s.result.outcome}, ${s.result.segments} segments, ${formatSeconds(s.result.durationSeconds)}, ${formatBytes(s.result.bytes)}`,
      ]);
      lines.push(['playlist', s.result.playlistLocation]);
    }
    if (s.kind) lines.push(['kind', s.kind]);
    if (s.subscriptions) {
      lines.push([
        'subscribe',
        `${formatSubscriptions(s.subscriptions)} (version ${s.subscriptionsVersion ?? 0})`,
      ]);
    }
    const manifest = s.manifestLocation ?? s.manifestKey;
    if (manifest) lines.push(['manifest', manifest]);
    if (s.error) lines.push(['error', `[${s.error.code}] ${s.error.message}`]);
    const out = [s.recordingId, ...lines.map(([k, v]) => `  ${k.padEnd(10)}${v}`)];
    if (s.users) {
      out.push(`  users     ${s.users.length === 0 ? 'none yet' : s.users.length}`);
      if (s.users.length > 0) {
        const rows = table(['UID', 'PRESENT', 'TRACKS', 'SEGMENTS', 'RECORDED', 'SINCE'], userRows(s.users));
        out.push(...rows.split('\n').map((l) => `    ${l}`));
      }
    }
    ctx.out(out.join('\n'));
    return EXIT_CODES.OK;
  },
};

const list: CommandSpec = {
  name: 'list',
  summary: 'list recordings, newest first',
  args: [],
  flags: [
    {
      name: 'state',
      type: 'string',
      value: '<state>',
      help: `only this state: ${RECORDING_STATES.join(' | ')}`,
    },
    { name: 'channel', type: 'string', value: '<name>', help: 'only this channel' },
    {
      name: 'limit',
      type: 'string',
      value: '<n>',
      help: `at most this many, ${describeNumberRule(LIST_LIMIT_RULE)}`,
    },
  ],
  examples: [
    'recfleet list',
    'recfleet list --state recording --channel lobby',
    'recfleet list --json --limit 500',
  ],
  async run(ctx, values, positionals) {
    if (positionals.length > 0) throw usageError(`list takes no arguments, got ${positionals.join(' ')}`);
    // The client checks the filter (INVALID_FILTER, exit code 2) before it asks Redis.
    const filter: ListFilter = {};
    if (typeof values.state === 'string') filter.state = values.state;
    if (typeof values.channel === 'string') filter.channel = values.channel;
    const limit = typeof values.limit === 'string' ? Number(values.limit) : LIST_LIMIT_RULE.default;
    const recordings: RecordingSummary[] = [];
    let cursor: string | undefined;
    do {
      // A sparse filter can answer a short page with a cursor: the next page continues the scan.
      const page = await ctx
        .client()
        .list({ ...filter, limit: limit - recordings.length, ...(cursor ? { cursor } : {}) });
      recordings.push(...page.recordings);
      cursor = page.nextCursor;
    } while (cursor && recordings.length < limit);
    if (ctx.json) ctx.outJson(recordings);
    else if (recordings.length === 0) ctx.out('no recordings');
    else
      ctx.out(
        table(
          ['RECORDING', 'STATE', 'APP/CHANNEL', 'CREATED', 'RECORDED', 'SEGMENTS', 'UPLOADED'],
          listRows(recordings),
        ),
      );
    return EXIT_CODES.OK;
  },
};

const watch: CommandSpec = {
  name: 'watch',
  summary: 'follow a recording live until it ends; the exit code is its outcome',
  args: ['<id>'],
  flags: [
    {
      name: 'max-wait',
      type: 'string',
      value: '<s>',
      help: 'once following, give up (exit 5) when Redis has been unreachable this long (default: wait it out)',
    },
  ],
  examples: [
    'recfleet watch rec-5f0c9a1b2c3d4e5f',
    'recfleet watch rec-5f0c9a1b2c3d4e5f --json > events.jsonl; echo "outcome: $?"',
    'recfleet watch rec-5f0c9a1b2c3d4e5f --max-wait 300',
  ],
  async run(ctx, values, positionals) {
    const id = oneId(positionals, 'watch');
    const raw = values['max-wait'];
    if (raw === undefined || typeof raw !== 'string') return watchRecording(ctx, id);
    const seconds = Number(raw.trim() || 'x');
    if (!Number.isFinite(seconds) || seconds <= 0) {
      throw usageError(`--max-wait: must be a number of seconds above 0 (got ${JSON.stringify(raw)})`);
    }
    return watchRecording(ctx, id, { maxWaitSeconds: seconds });
  },
};

export const COMMANDS: readonly CommandSpec[] = [
  start,
  controlCommand('stop', 'stop a recording: finalize the current segment and deliver everything'),
  controlCommand('cancel', 'cancel a recording: abandon the segment being written, keep finished ones'),
  update,
  status,
  list,
  watch,
];
