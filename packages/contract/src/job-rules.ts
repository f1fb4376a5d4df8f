import { z } from 'zod';

/**
 * The numeric rules of the job contract, each written once. The zod schema is built from them; the CLI's
 * help, the OpenAPI document (through the zod schema) and the engine's option checks read them, so a
 * changed range or default changes everywhere at once.
 */
export interface NumberRule {
  readonly min: number;
  readonly max: number;
  readonly integer: boolean;
  /** Applied when the field is absent (fields without one are required or optional as the schema says). */
  readonly default?: number;
  readonly description: string;
}

export const UID_RULE = {
  min: 1,
  max: 2 ** 32 - 1,
  integer: true,
  description: "a user id in the channel (the recorder's own, or a user's)",
} as const satisfies NumberRule;

export const SEGMENT_SECONDS_RULE = {
  min: 1,
  max: 60,
  integer: false,
  default: 10,
  description: 'target segment length; segments are cut at the first video keyframe after it',
} as const satisfies NumberRule;

export const MAX_IDLE_SECONDS_RULE = {
  min: 5,
  max: 3600,
  integer: true,
  default: 30,
  description: 'the recorder leaves once the channel has had no media for this long (the SDK’s 30 s rule)',
} as const satisfies NumberRule;

/**
 * A source connected but silent for longer than this has a gap: the segment ends, the next one is a
 * discontinuity and the recording's timeline jumps by the silence (node-media-server keeps a player
 * connected across a publisher's short absence, so no read fails). Well under MAX_IDLE_SECONDS_RULE.min,
 * so a gap is seen before the recording gives up on the source.
 */
export const GAP_SECONDS_RULE = {
  min: 0.5,
  max: 60,
  integer: false,
  default: 2,
  description:
    'a source that sends no media for this long has a gap: a new segment after a discontinuity, a `gap` event, and the timeline jumps by the silence',
} as const satisfies NumberRule;

export const MAX_DURATION_SECONDS_RULE = {
  min: 1,
  max: 7 * 24 * 3600,
  integer: true,
  description: 'optional hard limit on the recorded duration',
} as const satisfies NumberRule;

/**
 * Users recorded at once in a channel recording. The worker's admission control reserves this many
 * streams for the recording (like the reference service's subscribeUidGroup), so a host never records
 * more streams than it budgets for: set it to the size of your rooms.
 */
export const MAX_USERS_RULE = {
  min: 1,
  max: 64,
  integer: true,
  default: 17,
  description: 'users recorded at once; later users are reported (user_not_recorded), not recorded',
} as const satisfies NumberRule;

/**
 * Workers recording one single-stream recording at once: 1, or 2 — an owner that delivers and a standby
 * on another host that records the same source into its spool and, when the owner is lost, delivers from
 * the first segment the owner did not (README, "Redundant recording"). Ingest and CPU are doubled.
 */
export const REDUNDANCY_RULE = {
  min: 1,
  max: 2,
  integer: true,
  default: 1,
  description:
    'workers recording it at once: 2 adds a standby on another host that takes over with no gap when the owner is lost',
} as const satisfies NumberRule;

/** Entries in one subscription list (subscribeAudioUids, …), as the reference service allows. */
export const UID_LIST_MAX = 32;

/** The zod check of a number rule, with its default when it has one. */
export function numberSchema(rule: NumberRule): z.ZodNumber {
  let s = z.number();
  if (rule.integer) s = s.int();
  return s.min(rule.min).max(rule.max).meta({ description: rule.description });
}

/** "1–60 (default 10)", "an integer 5–3600 (default 30)": the rule as help text. */
export function describeNumberRule(rule: NumberRule): string {
  const range = `${rule.integer ? 'an integer ' : ''}${formatNumber(rule.min)}–${formatNumber(rule.max)}`;
  return rule.default === undefined ? range : `${range} (default ${formatNumber(rule.default)})`;
}

/** The reason `value` breaks `rule`, or undefined when it keeps it (for checks outside zod). */
export function numberRuleProblem(rule: NumberRule, value: unknown, min = rule.min): string | undefined {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    value >= min &&
    value <= rule.max &&
    (!rule.integer || Number.isInteger(value));
  return ok ? undefined : `${rule.integer ? 'an integer' : 'a number'} between ${min} and ${rule.max}`;
}

function formatNumber(n: number): string {
  return n === 2 ** 32 - 1 ? '4294967295' : String(n);
}

/** Recording ids: also BullMQ job ids, so never all digits (BullMQ refuses integer ids). */
export const RECORDING_ID_PATTERN = /^(?!\d+$)[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
export const RECORDING_ID_RULE = '1–64 of A-Z a-z 0-9 _ -, starting alphanumeric, not all digits';
export const APP_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const APP_ID_RULE = '1–64 of A-Z a-z 0-9 _ -';
export const STORAGE_PROFILE_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const STORAGE_PROFILE_RULE = '1–64 of a-z, 0-9, _ and -, starting alphanumeric';
/** Key prefixes: path segments of safe characters, no `.`/`..` segments, no leading or trailing slash. */
export const STORAGE_PREFIX_PATTERN = /^(?!.*(?:^|\/)\.{1,2}(?:\/|$))[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;
export const STORAGE_PREFIX_RULE =
  'path segments of A-Z a-z 0-9 . _ - separated by "/", without "." or ".." segments';
export const STORAGE_PREFIX_MAX_LENGTH = 512;
export const TOKEN_MAX_LENGTH = 2048;
export const SOURCE_URL_MAX_LENGTH = 2048;
export const CALLBACK_URL_MAX_LENGTH = 2048;
