import { MAX_IDLE_SECONDS_RULE, type NumberRule } from '@recfleet/contract';
import { invalidOption, numberOption, optionsObject } from './option-checks.js';

/**
 * The engine's own policy, each rule written once with its default: how it reconnects, how often it
 * reports recurring trouble, how it probes and how it lays out the timeline. The native layer has no
 * value of its own for any of these; it receives every one from here (see native-options.ts).
 * They are the same for every recording of a process, so they are the Recorder's constructor options;
 * what differs per recording is in start-options.ts.
 */
export const RECORDER_OPTION_RULES = {
  minIdleSeconds: {
    min: 0.1,
    max: MAX_IDLE_SECONDS_RULE.min,
    integer: false,
    default: MAX_IDLE_SECONDS_RULE.min,
    description:
      "for tests only: the lowest maxIdleSeconds start() accepts. Below the contract's minimum, fractions are accepted too, so that tests of the idle path need not wait 5 s each",
  },
  reconnectInitialDelayMs: {
    min: 1,
    max: 60_000,
    integer: true,
    default: 250,
    description: 'wait before reopening a source that was lost or could not be opened',
  },
  reconnectMaxDelayMs: {
    min: 1,
    max: 600_000,
    integer: true,
    default: 2000,
    description: 'the longest wait between two attempts to open a source',
  },
  reconnectBackoffFactor: {
    min: 1,
    max: 10,
    integer: false,
    default: 2,
    description: 'each failed attempt multiplies the wait by this, up to reconnectMaxDelayMs',
  },
  reconnectReportEvery: {
    min: 1,
    max: 1_000_000,
    integer: true,
    default: 10,
    description:
      'a failed attempt to open the source is reported (recorder_failure) the first time and then every this many',
  },
  corruptReportIntervalMs: {
    min: 0,
    max: 3_600_000,
    integer: true,
    default: 5000,
    description: 'at most one CORRUPT_PACKETS report per this interval (the count keeps running)',
  },
  minConnectAttemptMs: {
    min: 1,
    max: 120_000,
    integer: true,
    default: 250,
    description:
      'an attempt to open the source gets at least this long, even when maxIdleSeconds is about to pass',
  },
  liveProbeSeconds: {
    min: 0.01,
    max: 60,
    integer: false,
    default: 0.5,
    description:
      'media read from a live source to find its streams; FLV (RTMP) announces streams as they come, so a longer probe only delays the join',
  },
  fileProbeSeconds: {
    min: 0.01,
    max: 60,
    integer: false,
    default: 5,
    description: 'media read from a file to find its streams',
  },
  probeBytes: {
    min: 32,
    max: 100_000_000,
    integer: true,
    default: 1_000_000,
    description: 'the most bytes read to find the streams',
  },
  timelineStartSeconds: {
    min: 0,
    max: 3600,
    integer: false,
    default: 1,
    description:
      "where the first packet goes on the recording's timeline; above 0 so that audio slightly before the first keyframe stays non-negative",
  },
  timelineGapSeconds: {
    min: 0,
    max: 10,
    integer: false,
    default: 0.1,
    description:
      "gap left on the timeline where the source's clock restarts (a rejoin) or jumps, so that audio before the new keyframe stays after the old audio",
  },
  clockJumpBackSeconds: {
    min: 0,
    max: 3600,
    integer: false,
    default: 1,
    description:
      'a source clock that goes back by more than this has jumped (a restarted publisher behind a relay): the timeline continues after what was written instead of squashing it',
  },
  clockJumpForwardSeconds: {
    min: 0,
    max: 86_400,
    integer: false,
    default: 10,
    description:
      'a source clock that goes forward by more than this has jumped: the timeline continues after what was written instead of leaving a hole',
  },
  heapTrimIntervalMs: {
    min: 0,
    max: 3_600_000,
    integer: true,
    default: 1000,
    description:
      "freed heap (the stream probe's decoder buffers) is returned to the kernel at most once per this interval, across the process",
  },
  rtmpReadBufferBytes: {
    min: 0,
    max: 16 * 1024 * 1024,
    integer: true,
    default: 64 * 1024,
    description:
      "rtmp:// sources are read by the engine's buffered RTMP client, one receive taking up to this many bytes; 0 reads them with libavformat's client instead (one small read, each after a poll, per chunk header field: ~900 system calls a second for a 3 Mbit/s stream). At least 4096 when not 0",
  },
  rtmpLowWaterBytes: {
    min: 0,
    max: 16 * 1024 * 1024,
    integer: true,
    default: 56 * 1024,
    description:
      'once its media flows, the RTMP client sleeps until this many bytes have arrived (SO_RCVLOWAT) or readPollIntervalMs has passed, so that a stream costs a few large reads a second; 0 wakes it for every segment the server sends. Above rtmpReadBufferBytes it counts as that',
  },
  udpReadBufferBytes: {
    min: 0,
    max: 16 * 1024 * 1024,
    integer: true,
    default: 64 * 1024,
    description:
      "udp:// sources (and rtp:// of MPEG-TS) are read on the recording's own thread, in batches of datagrams (recvmmsg) into this many bytes, one batch per readPollIntervalMs once the socket is empty; 0 reads them with libavformat's UDP protocol instead (a thread of its own per source, one recvfrom and one wake-up per datagram, a 5 MiB buffer). At least 4096 when not 0",
  },
  readPollIntervalMs: {
    min: 10,
    max: 200,
    integer: true,
    default: 200,
    description:
      "the engine's own source readers wait on their socket at most this long at a time before reading what is there and looking at the read and connect deadlines again (stop and cancel wake them at once); a udp:// source is read once per interval",
  },
} as const satisfies Record<string, NumberRule & { default: number }>;

export type RecorderOptionName = keyof typeof RECORDER_OPTION_RULES;

/** Options of `new Recorder(options)`; every one has a default (RECORDER_OPTION_RULES). */
export type RecorderOptions = { [K in RecorderOptionName]?: number };
export type RecorderPolicy = { readonly [K in RecorderOptionName]: number };

const NAMES = Object.keys(RECORDER_OPTION_RULES) as RecorderOptionName[];

/** Checks the constructor options against their rules and applies the defaults. */
export function resolveRecorderOptions(input: unknown = {}): RecorderPolicy {
  const o = optionsObject(input, NAMES);
  const policy = Object.fromEntries(
    NAMES.map((name) => [name, numberOption(o, name, RECORDER_OPTION_RULES[name])]),
  ) as RecorderPolicy;
  if (policy.reconnectMaxDelayMs < policy.reconnectInitialDelayMs) {
    throw invalidOption(
      'reconnectMaxDelayMs',
      `a number of at least reconnectInitialDelayMs (${policy.reconnectInitialDelayMs})`,
      policy.reconnectMaxDelayMs,
    );
  }
  for (const name of ['rtmpReadBufferBytes', 'udpReadBufferBytes'] as const) {
    if (policy[name] > 0 && policy[name] < MIN_READ_BUFFER_BYTES) {
      throw invalidOption(name, `0 or a number of at least ${MIN_READ_BUFFER_BYTES}`, policy[name]);
    }
  }
  return policy;
}

/** A receive buffer smaller than this would hold less than one RTMP chunk or two datagrams of most sources. */
const MIN_READ_BUFFER_BYTES = 4096;
