import {
  activeRecordingKey,
  FINAL_STATES,
  fleetClockKey,
  recordingKind,
  recordingsIndexKey,
  subscriptionsOf,
  webhookRecordingsKey,
  type RecfleetErrorCode,
  type RecordingJob,
  isControlRequest,
  isFinalState,
  recordingRedisKeys,
  releaseActiveRecording,
  runScript,
  type ControlRequest,
  type FinalState,
  type RecordingEventType,
  type RecordingRedisKeys,
  type RecordingState,
} from '@recfleet/contract';
import type { Redis } from 'ioredis';

/** Events kept per recording; the newest win (progress every minute for a day is ~1,500). */
const EVENTS_KEPT = 5000;

/** Record fields as strings or numbers (a hash holds strings). */
export type RecordFields = Record<string, string | number>;

/** What a write of an owner came to (the scripts' 1 / 0 / -1). */
export type OwnerWrite = 'written' | 'after_terminal' | 'fenced';

/** Who may claim a recording, and when an owner's heartbeat counts as stale (see claimRecording-2.lua). */
export interface ClaimRules {
  /** host:pid */
  identity: string;
  host: string;
  takeoverAfterMs: number;
  graceAfterResumeMs: number;
  /** The longest gap between fleet clock ticks that is not an outage. */
  outageGapMs: number;
}

export type ClaimOutcome =
  | { type: 'claimed'; epoch: number }
  | { type: 'owner_alive' | 'grace'; owner: string; ownerHost: string }
  /** The owner is gone and its live standby claims first (`owner` names the standby). */
  | { type: 'standby_first'; owner: string; ownerHost: string }
  | { type: 'ended'; state: string };

/** What asking to be a recording's standby came to (takeStandby-1.lua). */
export type StandbyOutcome =
  | { type: 'standby' | 'no_owner' }
  | { type: 'same_host'; ownerHost: string }
  | { type: 'standby_alive'; standby: string; standbyHost: string }
  | { type: 'ended'; state: string };

/**
 * What taking a job did to its recording's start: the record was there (a producer started it, or an
 * earlier run of the job), it was created now (the job was added without a start), or the recording's
 * identity (app, channel, uid) belongs to another active recording.
 */
export type StartOutcome = { type: 'exists' | 'created' } | { type: 'active'; otherId: string };

/** A recording's end: its final state and result fields, and its one terminal event. */
export interface RecordingFinish {
  state: FinalState;
  fields: RecordFields;
  event: { type: 'uploaded' | 'backed_up' | 'fatal_error'; data: Record<string, unknown>; at: number };
}

function ownerWrite(reply: unknown): OwnerWrite {
  const n = Number(reply);
  return n === 1 ? 'written' : n === 0 ? 'after_terminal' : 'fenced';
}

function flat(fields: RecordFields): string[] {
  return Object.entries(fields).flatMap(([k, v]) => [k, String(v)]);
}

/**
 * The durable record of one recording in Redis: a hash with its state and a stream of its events. The
 * worker that owns the recording (the last to claim it: the epoch) is its one writer (livekit/egress's
 * "one owner" rule), and every owner write is fenced by that epoch in a Lua script, so that an owner
 * that lost the recording (a partition) cannot write its state or its events any more than its
 * segments. Producers write only the `control` field; the backup drain writes a finished recording.
 */
export class RecordingRecord {
  readonly keys: RecordingRedisKeys;

  constructor(
    private readonly redis: Redis,
    readonly keyPrefix: string,
    readonly recordingId: string,
  ) {
    this.keys = recordingRedisKeys(keyPrefix, recordingId);
  }

  /**
   * What a producer's start writes (startRecording-5.lua, as `startedBy: worker`), for a job added
   * without one — a bare BullMQ `Queue.add` from any language: the record with its recording id, the
   * identity's active key, the list index entry and the webhook registration. Idempotent: a recording
   * whose record exists is left as it is. An identity held by a recording that has ended (or whose
   * record is gone) is freed, as producers free it.
   */
  async start(spec: RecordingJob): Promise<StartOutcome> {
    const activeKey = activeRecordingKey(this.keyPrefix, spec.appId, spec.channel, spec.uid);
    const keys = [
      this.keys.record,
      this.keys.events,
      activeKey,
      recordingsIndexKey(this.keyPrefix),
      webhookRecordingsKey(this.keyPrefix),
    ];
    const kind = recordingKind(spec);
    for (let attempt = 0; ; attempt++) {
      const [outcome, id] = (await runScript(this.redis, 'startRecording', keys, [
        ...this.startArgs(spec),
        'worker',
        kind,
        kind === 'channel' ? JSON.stringify(subscriptionsOf(spec.recordingConfig)) : '',
      ])) as [string, string];
      if (outcome === 'created' || outcome === 'exists') return { type: outcome };
      const other = await this.redis.hget(recordingRedisKeys(this.keyPrefix, id).record, 'state');
      if (attempt >= 3 || (other !== null && !isFinalState(other))) return { type: 'active', otherId: id };
      await runScript(this.redis, 'releaseActiveRecording', [activeKey], [id]);
    }
  }

  /**
   * Records that a job added without a start was refused because `otherId` is recording its identity
   * (refuseStart-4.lua): the id ends `failed` with `code`, its `fatal_error` event the terminal one.
   * False when the recording was started meanwhile.
   */
  async refuseStart(
    spec: RecordingJob,
    failure: { code: RecfleetErrorCode; message: string; otherId: string },
  ): Promise<boolean> {
    const { code, message, otherId } = failure;
    const written = await runScript(
      this.redis,
      'refuseStart',
      [
        this.keys.record,
        this.keys.events,
        recordingsIndexKey(this.keyPrefix),
        webhookRecordingsKey(this.keyPrefix),
      ],
      [
        ...this.startArgs(spec),
        recordingKind(spec),
        code,
        message,
        JSON.stringify({ code, message, activeRecordingId: otherId }),
      ],
    );
    return Number(written) === 1;
  }

  /** The arguments startRecording-5 and refuseStart-4 begin with: the id, now, the identity, the callback. */
  private startArgs(spec: RecordingJob): (string | number)[] {
    return [this.recordingId, Date.now(), spec.appId, spec.channel, spec.uid, spec.callbackUrl ?? ''];
  }

  /** Claims the recording for `rules.identity` (claimRecording-2.lua). */
  async claim(rules: ClaimRules): Promise<ClaimOutcome> {
    const reply = (await runScript(
      this.redis,
      'claimRecording',
      [this.keys.record, fleetClockKey(this.keyPrefix)],
      [
        rules.identity,
        rules.host,
        rules.takeoverAfterMs,
        rules.graceAfterResumeMs,
        rules.outageGapMs,
        ...FINAL_STATES,
      ],
    )) as [string, string | number, string?];
    const [type, a, b] = reply;
    if (type === 'claimed') return { type, epoch: Number(a) };
    if (type === 'ended') return { type, state: String(a) };
    if (type === 'owner_alive' || type === 'grace' || type === 'standby_first') {
      return { type, owner: String(a), ownerHost: b ?? '' };
    }
    throw new Error(`claimRecording answered ${JSON.stringify(reply)}`);
  }

  /**
   * Makes `rules.identity` the recording's standby (takeStandby-1.lua): refused on the owner's host, or
   * while another standby heartbeats.
   */
  async takeStandby(rules: ClaimRules): Promise<StandbyOutcome> {
    const reply = (await runScript(
      this.redis,
      'takeStandby',
      [this.keys.record],
      [rules.identity, rules.host, rules.takeoverAfterMs, ...FINAL_STATES],
    )) as [string, string?, string?];
    const [type, a, b] = reply;
    if (type === 'standby' || type === 'no_owner') return { type };
    if (type === 'same_host') return { type, ownerHost: a ?? '' };
    if (type === 'standby_alive') return { type, standby: a ?? '', standbyHost: b ?? '' };
    if (type === 'ended') return { type, state: a ?? '' };
    throw new Error(`takeStandby answered ${JSON.stringify(reply)}`);
  }

  /** The owner's (or standby's) heartbeat; false when it no longer holds that role (heartbeat-1.lua). */
  async heartbeat(epoch: number, identity: string, role: 'owner' | 'standby' = 'owner'): Promise<boolean> {
    return (
      Number(await runScript(this.redis, 'heartbeat', [this.keys.record], [epoch, identity, role])) === 1
    );
  }

  /** Writes (and deletes) record fields for the owner of `epoch` (updateRecord-1.lua). */
  async update(epoch: number, fields: RecordFields, remove: readonly string[] = []): Promise<OwnerWrite> {
    const pairs = flat({ ...fields, updatedAt: Date.now() });
    return ownerWrite(
      await runScript(
        this.redis,
        'updateRecord',
        [this.keys.record],
        [epoch, pairs.length / 2, ...pairs, ...remove],
      ),
    );
  }

  /** Appends an event for the owner of `epoch`; `at` is when it happened (appendEvent-2.lua). */
  async appendEvent(
    epoch: number,
    type: RecordingEventType,
    data: Record<string, unknown>,
    at = Date.now(),
  ): Promise<OwnerWrite> {
    return ownerWrite(
      await runScript(
        this.redis,
        'appendEvent',
        [this.keys.record, this.keys.events],
        [epoch, type, at, JSON.stringify(data), EVENTS_KEPT],
      ),
    );
  }

  /**
   * Ends the recording with its final state and terminal event, once (finishRecording-2.lua); `epoch`
   * undefined for a worker that never claimed it. A finished recording frees its app/channel/uid for a
   * new recording (producers start at most one per identity at a time).
   */
  async finish(epoch: number | undefined, end: RecordingFinish): Promise<OwnerWrite> {
    const written = ownerWrite(
      await runScript(
        this.redis,
        'finishRecording',
        [this.keys.record, this.keys.events],
        [
          epoch ?? '',
          end.state,
          end.event.type,
          end.event.at,
          JSON.stringify(end.event.data),
          EVENTS_KEPT,
          ...flat(end.fields),
        ],
      ),
    );
    if (written === 'written') await releaseActiveRecording(this.redis, this.keyPrefix, this.recordingId);
    return written;
  }

  /** Hands the recording back to the queue with no owner (handOffRecording-2.lua). */
  async handOff(epoch: number, data: Record<string, unknown>): Promise<OwnerWrite> {
    return ownerWrite(
      await runScript(
        this.redis,
        'handOffRecording',
        [this.keys.record, this.keys.events],
        [epoch, Date.now(), JSON.stringify(data), EVENTS_KEPT],
      ),
    );
  }

  /**
   * The backup drain's delivery of a `backed_up` recording: state `uploaded` and the `drained` event
   * (not terminal: the recording had its terminal `backed_up`). Not fenced — the recording has ended,
   * and the drain holds its lock (drainLockKey).
   */
  async drained(fields: RecordFields, data: Record<string, unknown>): Promise<void> {
    const now = Date.now();
    await this.redis
      .multi()
      .hset(this.keys.record, { ...fields, state: 'uploaded', updatedAt: now })
      .xadd(
        this.keys.events,
        'MAXLEN',
        '~',
        String(EVENTS_KEPT),
        '*',
        'type',
        'drained',
        'at',
        String(now),
        'data',
        JSON.stringify(data),
      )
      .exec();
  }

  /** Fields of the record, as stored. */
  async fields(...names: string[]): Promise<Record<string, string | undefined>> {
    const values = await this.redis.hmget(this.keys.record, ...names);
    return Object.fromEntries(names.map((n, i) => [n, values[i] ?? undefined]));
  }

  /** The recording's state as stored (undefined without a record). */
  async state(): Promise<RecordingState | undefined> {
    return ((await this.redis.hget(this.keys.record, 'state')) ?? undefined) as RecordingState | undefined;
  }

  /** Whether the recording has ended (its terminal event, or a final state). */
  async ended(): Promise<boolean> {
    const { state, terminal } = await this.fields('state', 'terminal');
    return terminal !== undefined || isFinalState(state);
  }

  /** The producer's pending stop/cancel request, if any (read through `via`, e.g. the control polls'). */
  async controlRequest(via: Redis = this.redis): Promise<ControlRequest | undefined> {
    const value = await via.hget(this.keys.record, 'control');
    return isControlRequest(value) ? value : undefined;
  }

  /**
   * What producers ask of a running channel recording, read in one call: the stop/cancel request and
   * the subscriptions with their version (updateSubscriptions-1 increments it on every update).
   */
  async controlState(via: Redis = this.redis): Promise<{
    control: ControlRequest | undefined;
    subscriptions: string | undefined;
    subscriptionsVersion: number;
  }> {
    const [control, subscriptions, version] = await via.hmget(
      this.keys.record,
      'control',
      'subscriptions',
      'subscriptionsVersion',
    );
    return {
      control: isControlRequest(control) ? control : undefined,
      subscriptions: subscriptions ?? undefined,
      subscriptionsVersion: Number(version ?? 0),
    };
  }
}
