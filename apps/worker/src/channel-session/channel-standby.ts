import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  maxUsersOf,
  subscriptionsOf,
  trackId,
  type RecordingJob,
  type Subscriptions,
  type TrackType,
} from '@recfleet/contract';
import type { Logger } from 'pino';
import type { RecordingRecord } from '../recording-record.js';
import { jobRecorderOptions, type SessionRecorder, type TrackRecorderOptions } from '../recording-track.js';
import {
  STANDBY_SPOOL_FOLDER,
  StandbyHeartbeat,
  StandbyTrack,
  type Standby,
  type StandbyHandover,
} from '../standby-recording.js';
import type { ChannelDirectory, ChannelMembership } from './channel-directory.js';
import { chooseTrack, parseSubscriptions } from './track-choice.js';

/** A channel standby's recorders as it hands them over: by track id (`<uid>-<type>`). */
export type ChannelStandbyHandover = Map<string, StandbyHandover>;

/** A user's track recorder options, alike for the owner and the standby (both cut on the source's clock). */
export function userTrackRecorderOptions(
  spec: RecordingJob,
  sourceUrl: string,
  type: TrackType,
  gapSeconds: number,
): TrackRecorderOptions {
  return jobRecorderOptions(spec, sourceUrl, type === 'av' ? 'both' : type, gapSeconds);
}

export interface ChannelStandbyOptions {
  spec: RecordingJob;
  record: RecordingRecord;
  identity: string;
  directory: ChannelDirectory;
  /** The recording's spool folder (each user's standby track records into its STANDBY_SPOOL_FOLDER). */
  recordingDir: string;
  createRecorder: () => SessionRecorder;
  gapSeconds: number;
  windowSeconds: number;
  heartbeatMs: number;
  log: Logger;
}

/**
 * A worker's standby of a channel recording with redundancy 2: it joins the channel as the owner did,
 * and records every user the owner records — the same choice of users and types (subscriptions, stream
 * types, maxUsers, those there longest first) — each with a StandbyTrack, cutting on the source's clock
 * where the owner's track cuts. When the owner is lost and this worker claims the recording, `handOver`
 * gives every user's recorder and window to the session, whose tracks continue from the first segment
 * the owner did not deliver (RecordingTrack.adopt). The subscriptions are re-read with each heartbeat,
 * so an update reaches the standby within one; a user it did not record (an update it had not seen
 * yet) starts afresh with the new owner, as without a standby.
 */
export class ChannelStandby implements Standby<ChannelStandbyHandover> {
  private readonly heartbeat: StandbyHeartbeat;
  private readonly tracks = new Map<number, { type: TrackType; standby: StandbyTrack }>();
  private membership: ChannelMembership | undefined;
  private subscriptions: Subscriptions;
  private handedOver = false;
  private lost = false;
  private chain: Promise<void> = Promise.resolve();
  private readonly outputDir: string;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: ChannelStandbyOptions) {
    this.subscriptions = subscriptionsOf(o.spec.recordingConfig);
    this.outputDir = join(o.recordingDir, STANDBY_SPOOL_FOLDER);
    this.heartbeat = new StandbyHeartbeat(o.record, o.identity, o.log, async () => {
      this.lost = true;
      await this.close();
    });
  }

  /** Joins the channel, records its users as the owner does, and heartbeats as the standby. */
  async start(): Promise<void> {
    const { spec } = this.o;
    await rm(this.outputDir, { recursive: true, force: true });
    const state = await this.o.record.controlState();
    this.subscriptions = parseSubscriptions(state.subscriptions) ?? this.subscriptions;
    const membership = await this.o.directory.join({
      appId: spec.appId,
      channel: spec.channel,
      recorderUid: spec.uid,
      token: spec.token,
    });
    this.membership = membership;
    // News from the directory is worth another recorder for a user whose recorder ended (as the owner).
    const reconcile = (): void => void this.reconcile(true);
    membership.on('user_joined', reconcile);
    membership.on('user_changed', reconcile);
    membership.on('user_left', reconcile);
    this.heartbeat.start(this.o.heartbeatMs);
    // The subscriptions are read again with each beat (an update reaches the standby within one).
    this.timer = setInterval(() => void this.refresh(), this.o.heartbeatMs);
    await this.reconcile(true);
    this.o.log.info(
      { windowSeconds: this.o.windowSeconds, users: this.tracks.size },
      "standby: recording the channel's users beside their owner",
    );
  }

  get active(): boolean {
    return !this.lost && !this.handedOver;
  }

  /** Whether any user's recorder records (the owner's session starts the others afresh). */
  get recording(): boolean {
    return [...this.tracks.values()].some((t) => t.standby.recording);
  }

  private async refresh(): Promise<void> {
    try {
      const state = await this.o.record.controlState();
      this.subscriptions = parseSubscriptions(state.subscriptions) ?? this.subscriptions;
    } catch (err) {
      this.o.log.debug({ err }, 'standby: subscriptions not read');
    }
    await this.reconcile(false);
  }

  private reconcile(restartEnded: boolean): Promise<void> {
    this.chain = this.chain
      .then(() => this.reconcileNow(restartEnded))
      .catch((err: unknown) => this.o.log.warn({ err }, 'standby: users not reconciled'));
    return this.chain;
  }

  /**
   * Records the users the owner would record now: ends the others' recorders, starts the missing ones
   * (and, with `restartEnded`, those whose recorder ended by itself: the owner's track would start again).
   */
  private async reconcileNow(restartEnded: boolean): Promise<void> {
    const membership = this.membership;
    if (!membership || !this.active) return;
    const { spec } = this.o;
    const rules = {
      recorderUid: spec.uid,
      subscriptions: this.subscriptions,
      streamTypes: spec.recordingConfig.streamTypes,
    };
    const wanted = new Map<number, TrackType>();
    const users = membership.users().sort((a, b) => a.since - b.since || a.uid - b.uid);
    for (const u of users) {
      const choice = chooseTrack(u, rules);
      if ('type' in choice && wanted.size < maxUsersOf(spec.recordingConfig)) wanted.set(u.uid, choice.type);
    }
    for (const [uid, t] of this.tracks) {
      if (wanted.get(uid) === t.type && (t.standby.recording || !restartEnded)) continue;
      this.tracks.delete(uid);
      await t.standby.close();
    }
    for (const [uid, type] of wanted) {
      if (this.tracks.has(uid) || !this.active) continue;
      const id = trackId(uid, type);
      let sourceUrl: string;
      try {
        sourceUrl = membership.sourceUrl(uid);
      } catch (err) {
        // The owner reports this user failed (CHANNEL_AUTH_FAILED); the standby has nothing to record.
        this.o.log.debug({ err, uid }, 'standby: user not recorded');
        continue;
      }
      const standby = new StandbyTrack(
        this.o.createRecorder(),
        join(this.outputDir, id),
        this.o.windowSeconds,
      );
      this.tracks.set(uid, { type, standby });
      await standby.start(userTrackRecorderOptions(spec, sourceUrl, type, this.o.gapSeconds));
    }
  }

  /** Stops standing by; gives every user's running recorder and its window, by track id. */
  handOver(): ChannelStandbyHandover {
    this.handedOver = true;
    this.stopTimers();
    const handover: ChannelStandbyHandover = new Map();
    for (const [uid, t] of this.tracks) {
      if (t.standby.recording) handover.set(trackId(uid, t.type), t.standby.handOver());
      else void t.standby.close();
    }
    this.tracks.clear();
    // The recorders pull each user's stream with their own URL; the owner's session joins anew.
    void this.membership?.close().catch(() => undefined);
    return handover;
  }

  async close(): Promise<void> {
    this.stopTimers();
    if (this.handedOver) return;
    this.lost = true;
    await this.chain;
    const tracks = [...this.tracks.values()];
    this.tracks.clear();
    await Promise.all(tracks.map((t) => t.standby.close()));
    await this.membership?.close().catch(() => undefined);
    await rm(this.outputDir, { recursive: true, force: true });
  }

  private stopTimers(): void {
    this.heartbeat.stop();
    clearInterval(this.timer);
  }
}
