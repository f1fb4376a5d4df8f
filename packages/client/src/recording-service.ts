import type {
  ControlRequest,
  RecfleetError,
  RecordingEvent,
  RecordingJobInput,
  RecordingState,
  Subscriptions,
} from '@recfleet/contract';
import type { ListFilter, RecordingPage, RecordingStatus } from './recording-read-model.js';

/** A start request: the job contract, with the recording id optional (generated when absent). */
export type StartRequest = Omit<RecordingJobInput, 'recordingId' | 'requestedAt'> & { recordingId?: string };

export interface RecordingHandle {
  recordingId: string;
  /** False when a recording with this id already existed (idempotent start). */
  created: boolean;
}

/** What a stop or cancel did: the request is stored; `state` is the recording's state after it. */
export interface ControlOutcome {
  recordingId: string;
  requested: ControlRequest;
  state: RecordingState;
}

/** What an update did: the subscriptions in force now, and their version (the worker applies it). */
export interface UpdateOutcome {
  recordingId: string;
  subscriptions: Subscriptions;
  version: number;
}

/**
 * What `follow` tells its caller of the service it reads from (Redis, or the HTTP API) while it follows:
 * lost (once per outage, with the error of the unavailable category), and back.
 */
export type FollowOutage =
  { state: 'lost'; at: number; error: RecfleetError } | { state: 'restored'; at: number; downMs: number };

export interface FollowOptions {
  /** Follow from after this event id (default: from the first event). */
  afterId?: string;
  /** How long one read waits for new events, ms (default 1000). */
  blockMs?: number;
  /** Told when Redis (or the API) is lost (first failed read of an outage) and when a read succeeds again. */
  onOutage?: (change: FollowOutage) => void;
}

/**
 * What a producer does with recordings, through Redis (RecordingClient) or through the HTTP API
 * (RecordingApiClient): the same operations, answers and typed errors either way.
 */
export interface RecordingService {
  start(request: StartRequest): Promise<RecordingHandle>;
  get(recordingId: string): Promise<RecordingStatus>;
  list(filter?: ListFilter): Promise<RecordingPage>;
  update(recordingId: string, update: unknown): Promise<UpdateOutcome>;
  stop(recordingId: string): Promise<ControlOutcome>;
  cancel(recordingId: string): Promise<ControlOutcome>;
  follow(recordingId: string, options?: FollowOptions): AsyncGenerator<RecordingEvent>;
  close(): Promise<void>;
}
