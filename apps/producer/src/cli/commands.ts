import {
  DEFAULT_STREAM_TYPES,
  describeNumberRule,
  EXIT_CODES,
  type FieldProblem,
  InvalidRecordingJobError,
  MAX_DURATION_SECONDS_RULE,
  MAX_IDLE_SECONDS_RULE,
  parseStartRecordingRequest,
  RECORDING_STATES,
  SEGMENT_SECONDS_RULE,
  STREAM_TYPES,
  UID_RULE,
} from '@recfleet/contract';
import {
  LIST_LIMIT_RULE,
  type ListFilter,
  type RecordingSummary,
  type StartRequest,
} from '../recording-client.js';
import type { CliContext } from './context.js';
import { CliError, usageError } from './errors.js';
import { formatBytes, formatProgress, formatSeconds, formatTime, listRows, table } from './format.js';
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

/** Start flags and the job-contract field each one sets. */
const START_FIELDS: { flag: FlagSpec; field: string; kind: 'string' | 'number' }[] = [
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
      help: "pull from this URL instead of the workers' channel URL template",
    },
    field: 'sourceUrl',
    kind: 'string',
  },
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

/** Builds a start request from flags; numbers that are not numbers are passed on for the schema to refuse. */
export function startRequestFromFlags(values: Record<string, string | boolean | undefined>): {
  request: Record<string, unknown>;
  given: Set<string>;
} {
  const request: Record<string, unknown> = { storage: {} };
  const given = new Set<string>();
  for (const { flag, field, kind } of START_FIELDS) {
    const raw = values[flag.name];
    if (typeof raw !== 'string') continue;
    given.add(field);
    const trimmed = raw.trim();
    const value =
      kind === 'number' && trimmed !== '' && Number.isFinite(Number(trimmed)) ? Number(trimmed) : raw;
    setPath(request, field, value);
  }
  return { request, given };
}

function invalidJob(
  problems: readonly FieldProblem[],
  given: Set<string>,
  values: Record<string, string | boolean | undefined>,
): CliError {
  const explained = problems.map((p) => {
    const spec = START_FIELDS.find((f) => f.field === p.field);
    const flag = spec ? `--${spec.flag.name}` : undefined;
    const raw = spec ? values[spec.flag.name] : undefined;
    let rule = p.rule;
    if (spec && !given.has(p.field)) rule = 'is required';
    else if (
      spec?.kind === 'number' &&
      typeof raw === 'string' &&
      !Number.isFinite(Number(raw.trim() || 'x'))
    ) {
      rule = `must be a number (got ${JSON.stringify(raw)})`;
    }
    return { field: p.field, rule, ...(flag ? { flag } : {}) };
  });
  return new CliError(
    'INVALID_JOB',
    `invalid recording request (${problems.length} problem${problems.length === 1 ? '' : 's'})`,
    explained.map((p) => `invalid ${p.flag ? `${p.flag} (${p.field})` : p.field}: ${p.rule}`),
    { problems: explained },
  );
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
        segmentsIndexed: s.segmentsIndexed,
        progress: s.progress ?? null,
        result: s.result ?? null,
        error: s.error ?? null,
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
    if (s.progress) lines.push(['progress', formatProgress(s.progress)]);
    if (s.reason) lines.push(['reason', s.reason]);
    if (s.result) {
      lines.push([
        'result',
        `${s.result.outcome}, ${s.result.segments} segments, ${formatSeconds(s.result.durationSeconds)}, ${formatBytes(s.result.bytes)}`,
      ]);
      lines.push(['playlist', s.result.playlistLocation]);
    }
    if (s.error) lines.push(['error', `[${s.error.code}] ${s.error.message}`]);
    ctx.out([s.recordingId, ...lines.map(([k, v]) => `  ${k.padEnd(9)}${v}`)].join('\n'));
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
  flags: [],
  examples: [
    'recfleet watch rec-5f0c9a1b2c3d4e5f',
    'recfleet watch rec-5f0c9a1b2c3d4e5f --json > events.jsonl; echo "outcome: $?"',
  ],
  async run(ctx, _values, positionals) {
    return watchRecording(ctx, oneId(positionals, 'watch'));
  },
};

export const COMMANDS: readonly CommandSpec[] = [
  start,
  controlCommand('stop', 'stop a recording: finalize the current segment and deliver everything'),
  controlCommand('cancel', 'cancel a recording: abandon the segment being written, keep finished ones'),
  status,
  list,
  watch,
];
