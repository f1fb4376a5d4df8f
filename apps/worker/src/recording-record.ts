import {
  isControlRequest,
  isFinalState,
  recordingRedisKeys,
  releaseActiveRecording,
  type ControlRequest,
  type RecordingEventType,
  type RecordingRedisKeys,
  type RecordingState,
} from '@recfleet/contract';
import type { Redis } from 'ioredis';

/** Events kept per recording; the newest win (progress every minute for a day is ~1,500). */
const EVENTS_KEPT = 5000;

/**
 * The durable record of one recording in Redis: a hash with its state and a stream of its events.
 * The worker running the recording is the one writer of state (livekit/egress's "one owner" rule);
 * producers only write the `control` field.
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

  async setState(state: RecordingState, fields: Record<string, string | number> = {}): Promise<void> {
    await this.redis.hset(this.keys.record, { ...fields, state, updatedAt: Date.now() });
    // A final state frees the recording's app/channel/uid for a new recording (producers start at
    // most one recording per identity at a time). Done before the final event is reported.
    if (isFinalState(state)) await releaseActiveRecording(this.redis, this.keyPrefix, this.recordingId);
  }

  /** `at` is when the event happened: during a Redis outage events are written later, in order. */
  async appendEvent(
    type: RecordingEventType,
    data: Record<string, unknown>,
    at = Date.now(),
  ): Promise<string> {
    const id = await this.redis.xadd(
      this.keys.events,
      'MAXLEN',
      '~',
      String(EVENTS_KEPT),
      '*',
      'type',
      type,
      'at',
      String(at),
      'data',
      JSON.stringify(data),
    );
    return id ?? '';
  }

  /** The producer's pending stop/cancel request, if any. */
  async controlRequest(): Promise<ControlRequest | undefined> {
    const value = await this.redis.hget(this.keys.record, 'control');
    return isControlRequest(value) ? value : undefined;
  }

  /**
   * What producers ask of a running channel recording, read in one call: the stop/cancel request and
   * the subscriptions with their version (updateSubscriptions-1 increments it on every update).
   */
  async controlState(): Promise<{
    control: ControlRequest | undefined;
    subscriptions: string | undefined;
    subscriptionsVersion: number;
  }> {
    const [control, subscriptions, version] = await this.redis.hmget(
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
