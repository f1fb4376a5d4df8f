import {
  categoryOf,
  errorCodeOf,
  maxUsersOf,
  redactText,
  runScript,
  subscriptionsOf,
  trackId,
  trackSegmentsKey,
  trackStreams,
  ManifestUserSchema,
  type ManifestUser,
  type RecordingResult,
  type Subscriptions,
  type TrackType,
  type UserLeftReason,
  type UserNotRecordedReason,
} from '@recfleet/contract';
import { rm } from 'node:fs/promises';
import type { FinalEvent, StartedEvent } from '@recfleet/engine-binding';
import {
  describeStorageFailure,
  manifestObjectKey,
  userTrackObjectKeys,
  type StorageFailure,
} from '@recfleet/storage';
import { recordingDurationLimit } from '../recording-limits.js';
import { RecordingTrack, type TrackHooks } from '../recording-track.js';
import type { StandbyHandover } from '../standby-recording.js';
import {
  SessionLifecycle,
  stoppedBy,
  type Delivery,
  type SessionEnd,
  type SessionOptions,
} from '../session-lifecycle.js';
import type { ChannelDirectory, ChannelMembership, ChannelUser } from './channel-directory.js';
import { buildChannelManifest, type ManifestFacts } from './channel-manifest.js';
import { channelManifestWriter, type ManifestWriter, type ManifestWriterFactory } from './manifest-writer.js';
import { userTrackRecorderOptions, type ChannelStandbyHandover } from './channel-standby.js';
import { chooseTrack, parseSubscriptions, type TrackChoice } from './track-choice.js';

export interface ChannelSessionOptions extends SessionOptions {
  directory: ChannelDirectory;
  /** How the manifest is kept in the store (default: the storage package's ChannelManifestWriter). */
  createManifestWriter?: ManifestWriterFactory;
  /** Recorders that cut on the source's clock, where a standby would (the recording has redundancy 2). */
  alignToSource?: boolean;
  /** This worker was the recording's standby: its users' recorders and windows continue their tracks. */
  standby?: ChannelStandbyHandover;
}

/** A user's track while a recorder runs on it. */
interface ActiveTrack {
  type: TrackType;
  track: RecordingTrack;
  /** Settles once the recorder has ended and the session has recorded how. */
  settled: Promise<void>;
  /** Why the session ends it; unset when the recorder ended by itself. */
  leaveReason?: UserLeftReason;
  /** Hand-off: the user's recording goes on with the next owner; their interval stays open. */
  continues?: boolean;
}

/** Everything the session knows of one user of the channel. */
interface UserState {
  uid: number;
  /** The user's timeline and playlists: what the users hash and the manifest hold. */
  entry: ManifestUser;
  /** Every track the user has had in this recording, by type (earlier owners' too). */
  tracks: Map<TrackType, RecordingTrack>;
  /** What the directory says the user publishes; undefined while they are not in the channel. */
  present: ChannelUser | undefined;
  /** When the directory saw them leave. */
  leftAt?: number;
  active: ActiveTrack | undefined;
  /** `user_joined` was reported for this presence. */
  announced: boolean;
  /** The reason last reported with `user_not_recorded` in this presence. */
  notRecorded: UserNotRecordedReason | undefined;
  /** Their recorder ended by itself: not started again before the directory has news of them. */
  stalled: boolean;
}

/**
 * A channel recording (a job without `sourceUrl`) in `individual` mode on this worker: it joins the
 * channel through the worker's ChannelDirectory as the silent user `uid`, and records every user who
 * publishes and is subscribed — up to maxUsers at once — into that user's own track (a RecordingTrack:
 * recorder, reservations, uploader, index), keeping the users hash and the manifest current. One claim
 * (one epoch) fences every track. Its life is SessionLifecycle's steps.
 */
export class ChannelRecordingSession extends SessionLifecycle {
  private readonly users = new Map<number, UserState>();
  private membership: ChannelMembership | undefined;
  private subscriptions: Subscriptions = {};
  private subscriptionsVersion = 0;
  private facts!: ManifestFacts;
  private readonly manifestKey: string;
  private readonly manifest: ManifestWriter;
  /** Since when no user has been recorded (undefined while someone is). */
  private idleSince: number | undefined;
  /** When the recorder joined the channel (a user already there is recorded from then). */
  private joinedAt = 0;
  /** Set once the recording is to end here: no track starts any more. */
  private ending = false;
  /** How the recording ended here, once it has. */
  private lastEnd: SessionEnd | undefined;
  /** Every recorder of this session has ended. */
  private recorded = false;
  private resolveEnd!: (end: SessionEnd) => void;
  private readonly ended: Promise<SessionEnd>;
  /** Decisions about the users are made one at a time, in order. */
  private reconcileChain: Promise<void> = Promise.resolve();
  /** Users hash writes, in order. */
  private userWrites: Promise<void> = Promise.resolve();
  /** The record names the manifest (see noteManifestWritten). */
  private manifestNoted: Promise<void> | undefined;

  constructor(private readonly options: ChannelSessionOptions) {
    super(options);
    const { spec } = options;
    this.manifestKey = manifestObjectKey(spec.recordingId, spec.channel, spec.storage.prefix);
    this.manifest = (
      options.createManifestWriter ??
      ((store, key, onWritten) =>
        channelManifestWriter(store, key, {
          slots: options.uploadSlots,
          attemptTimeoutMs: options.uploadAttemptTimeoutMs,
          ...(onWritten ? { onWritten } : {}),
        }))
    )(options.store, this.manifestKey, () => void this.noteManifestWritten());
    this.ended = new Promise((resolve) => (this.resolveEnd = resolve));
  }

  protected override claimFields(): Record<string, string | number> {
    const { spec } = this.o;
    return { appId: spec.appId, mode: spec.recordingConfig.mode };
  }

  /**
   * The record names the manifest once it is in the store (readers fetch what `manifestKey` names): a
   * recording refused at the join, or whose manifest never reached the store, names none.
   */
  private noteManifestWritten(): Promise<void> {
    this.manifestNoted ??= this.o.record
      .update(this.epoch, {
        manifestKey: this.manifestKey,
        manifestLocation: this.o.store.locate(this.manifestKey),
      })
      .then(
        (written) => {
          if (written === 'fenced')
            this.fence('the manifest key was refused: another worker owns the recording');
        },
        (err: unknown) => {
          this.manifestNoted = undefined;
          this.o.log.warn({ err }, 'manifest key not saved on the record');
        },
      );
    return this.manifestNoted;
  }

  /** Reads the subscriptions and every user's tracks an earlier owner left. */
  protected async resume(): Promise<void> {
    const { redis, record, spec } = this.o;
    const key = record.keys.record;
    // The job's subscriptions are the recording's until an update changes them; an update stored before
    // this first claim is kept.
    await redis.hsetnx(key, 'subscriptions', JSON.stringify(subscriptionsOf(spec.recordingConfig)));
    await redis.hsetnx(key, 'subscriptionsVersion', 0);
    await redis.hsetnx(key, 'startedAt', Date.now());
    const fields = await redis.hgetall(key);
    this.applySubscriptions(fields.subscriptions, Number(fields.subscriptionsVersion ?? 0));
    this.facts = {
      recordingId: spec.recordingId,
      appId: spec.appId,
      channel: spec.channel,
      mode: spec.recordingConfig.mode,
      startedAt: Number(fields.startedAt),
      notRecorded: fields.notRecorded ? (JSON.parse(fields.notRecorded) as ManifestFacts['notRecorded']) : [],
    };
    for (const [uid, json] of Object.entries(await redis.hgetall(record.keys.users))) {
      const entry = parseUserEntry(json);
      if (!entry) {
        this.o.log.warn({ uid }, 'unreadable user entry in the users hash; that user starts afresh');
        continue;
      }
      const user = this.user(entry.uid, entry);
      for (const t of entry.tracks) user.tracks.set(t.type, await this.openTrack(user.uid, t.type));
    }
  }

  protected async record(): Promise<SessionEnd> {
    const pending = await this.pendingControl();
    if (pending) return this.endedBeforeRecording(pending);
    const { spec } = this.o;
    let membership: ChannelMembership;
    try {
      membership = await this.options.directory.join({
        appId: spec.appId,
        channel: spec.channel,
        recorderUid: spec.uid,
        token: spec.token,
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return this.endedBeforeRecording({
        type: 'fatal_error',
        code: errorCodeOf(err, 'SOURCE_UNREACHABLE'),
        message,
      });
    }
    if (this.ending) {
      // Stopped, handed off or fenced while joining.
      await membership.close().catch(() => undefined);
      return this.endedBeforeRecording(await this.ended);
    }
    if (membership.users().some((u) => u.uid === spec.uid)) {
      await membership.close().catch(() => undefined);
      return this.endedBeforeRecording({
        type: 'fatal_error',
        code: 'UID_CONFLICT',
        message: `uid ${spec.uid} publishes in channel ${JSON.stringify(spec.channel)}: the recorder needs a uid of its own`,
      });
    }
    this.membership = membership;
    this.joinedAt = Date.now();
    this.idleSince = this.joinedAt;
    membership.on('user_joined', (u) => this.onPresent(u));
    membership.on('user_changed', (u) => this.onPresent(u));
    membership.on('user_left', (e) => this.onLeft(e.uid, e.at));
    this.outbox.fields({ state: 'recording' });
    this.report('joined', { users: membership.users().length });
    for (const u of membership.users()) this.onPresent(u);
    if (this.options.standby) void this.reconcileChain.then(() => this.releaseStandby());
    this.o.log.info({ epoch: this.epoch, directory: this.options.directory.kind }, 'joined the channel');
    const end = await this.whileRecording(this.ended, () => this.poll());
    await this.endTracks(end);
    await this.discardEmptyTracks();
    await membership.close().catch((err: unknown) => this.o.log.warn({ err }, 'leaving the channel failed'));
    this.lastEnd = end;
    return end;
  }

  private endedBeforeRecording(end: SessionEnd): SessionEnd {
    this.ending = true;
    this.recorded = true;
    this.lastEnd = end;
    return end;
  }

  /** Asks the recording to end here; the first request decides how. */
  private endWith(end: SessionEnd): void {
    this.ending = true;
    this.resolveEnd(end);
  }

  private onPresent(present: ChannelUser): void {
    const u = this.user(present.uid);
    if (u.present === undefined) {
      u.announced = false;
      u.notRecorded = undefined;
    }
    u.present = present;
    // News from the directory is worth another attempt at a user whose recorder ended by itself.
    u.stalled = false;
    void this.reconcile('directory');
  }

  private onLeft(uid: number, at: number): void {
    const u = this.users.get(uid);
    if (!u) return;
    u.present = undefined;
    u.leftAt = at;
    void this.reconcile('directory');
  }

  private reconcile(cause: 'directory' | 'update'): Promise<void> {
    this.reconcileChain = this.reconcileChain
      .then(() => this.reconcileNow(cause))
      .catch((err: unknown) => this.o.log.warn({ err }, 'users not reconciled'));
    return this.reconcileChain;
  }

  /**
   * Brings the tracks in line with the channel and the subscriptions: a track whose user left, or whose
   * type no longer fits what they publish and what is subscribed, ends; then users who should be
   * recorded start, those there longest first, while fewer than maxUsers are; the rest are reported.
   */
  private async reconcileNow(cause: 'directory' | 'update'): Promise<void> {
    if (this.ending) return;
    const { spec } = this.o;
    const rules = {
      recorderUid: spec.uid,
      subscriptions: this.subscriptions,
      streamTypes: spec.recordingConfig.streamTypes,
    };
    const choices = new Map<number, TrackChoice | undefined>();
    for (const u of this.users.values()) choices.set(u.uid, u.present && chooseTrack(u.present, rules));
    const typeOf = (u: UserState): TrackType | undefined => {
      const c = choices.get(u.uid);
      return c && 'type' in c ? c.type : undefined;
    };

    const leaving: Promise<void>[] = [];
    for (const u of this.users.values()) {
      const a = u.active;
      if (!a || typeOf(u) === a.type) continue;
      a.leaveReason ??= u.present && cause === 'update' ? 'unsubscribed' : 'left';
      void a.track.stop();
      leaving.push(a.settled);
    }
    await Promise.all(leaving);

    let room = maxUsersOf(spec.recordingConfig) - this.activeTracks().length;
    const waiting = [...this.users.values()]
      .filter((u) => u.present && !u.active && !u.stalled && typeOf(u) !== undefined)
      .sort((a, b) => a.present!.since - b.present!.since || a.uid - b.uid);
    for (const u of waiting) {
      if (this.ending) return;
      if (room > 0) {
        room -= 1;
        await this.startTrack(u, typeOf(u)!);
      } else this.notRecorded(u, 'max_users');
    }
    for (const u of this.users.values()) {
      const c = choices.get(u.uid);
      if (u.present && c && 'notRecorded' in c) this.notRecorded(u, c.notRecorded);
      // An interval an earlier owner left open, of a user who is not recorded now.
      const open = u.entry.intervals.at(-1);
      if (!u.active && open && open.leftAt === undefined) {
        closeInterval(u, u.leftAt ?? Date.now(), 'left');
        void this.writeUser(u);
      }
    }
    this.updateManifest();
  }

  private async startTrack(u: UserState, type: TrackType): Promise<void> {
    const { spec } = this.o;
    let track = u.tracks.get(type);
    if (!track) {
      track = await this.openTrack(u.uid, type);
      u.tracks.set(type, track);
    }
    const present = u.present!;
    const id = trackId(u.uid, type);
    const streams = trackStreams(type);
    const now = Date.now();
    const open = u.entry.intervals.at(-1);
    if (open && open.leftAt === undefined && (open.audio !== streams.audio || open.video !== streams.video)) {
      closeInterval(u, now, 'left');
    }
    if (u.entry.intervals.at(-1)?.leftAt !== undefined || u.entry.intervals.length === 0) {
      // Recorded from when they started publishing, if that is now; else from now (a slot freed, an update).
      const from = u.announced ? now : Math.max(present.since, this.joinedAt);
      u.entry.intervals.push({ joinedAt: new Date(from).toISOString(), ...streams });
    }
    u.announced = true;
    u.notRecorded = undefined;
    this.idleSince = undefined;
    this.report('user_joined', {
      uid: u.uid,
      audio: present.audio,
      video: present.video,
      recorded: true,
      track: id,
    });
    const hooks = {
      started: (e: StartedEvent) => this.report('started', { uid: u.uid, track: id, streams: e.streams }),
    };
    let ended: Promise<FinalEvent>;
    const standby = this.takeStandby(id);
    try {
      if (standby) ended = this.takeOver(u.uid, id, track, standby, hooks);
      else {
        const options = userTrackRecorderOptions(
          spec,
          this.membership!.sourceUrl(u.uid),
          type,
          this.gapSeconds(),
        );
        const alignToSource = this.options.alignToSource ?? false;
        ended = track.record(this.o.createRecorder(), { ...options, alignToSource }, hooks);
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      ended = Promise.resolve({
        type: 'fatal_error',
        recordingId: spec.recordingId,
        code: errorCodeOf(err) as Extract<FinalEvent, { type: 'fatal_error' }>['code'],
        message,
      });
    }
    const active: ActiveTrack = { type, track, settled: Promise.resolve() };
    active.settled = ended.then((e) => this.onTrackEnded(u, active, e));
    u.active = active;
    void this.writeUser(u);
  }

  /** The standby recorder of track `id`, when this worker stood by and it still records. */
  private takeStandby(id: string): StandbyHandover | undefined {
    const standby = this.options.standby;
    const handover = standby?.get(id);
    if (!handover) return undefined;
    standby!.delete(id);
    if (handover.recorder.state === 'running') return handover;
    void handover.recorder.release({ cancel: true }).catch(() => undefined);
    return undefined;
  }

  /**
   * The standby's recorder of this user continues their track: its window's segments from the first the
   * lost owner did not deliver are delivered now, the rest as it records them (RecordingTrack.adopt).
   */
  private takeOver(
    uid: number,
    id: string,
    track: RecordingTrack,
    standby: StandbyHandover,
    hooks: TrackHooks,
  ): Promise<FinalEvent> {
    const { ended, taken, gapMs } = track.adopt(standby, hooks);
    if (standby.streams) this.report('started', { uid, track: id, streams: standby.streams });
    const data = { uid, track: id, segmentsFromStandby: taken, ...(gapMs !== undefined ? { gapMs } : {}) };
    this.report('takeover', data);
    this.o.log.info({ ...data, epoch: this.epoch }, "standby took the user's track over");
    return ended;
  }

  /**
   * Releases the standby's recorders no track took (a user who left meanwhile, or whom this owner does
   * not record), with their windows: their segments are in no index.
   */
  private async releaseStandby(): Promise<void> {
    const left = [...(this.options.standby?.values() ?? [])];
    this.options.standby?.clear();
    await Promise.all(
      left.map(async (h) => {
        await h.recorder.release({ cancel: true }).catch(() => undefined);
        await Promise.all(h.takeWindow().map((e) => rm(e.path, { force: true })));
      }),
    );
  }

  private onTrackEnded(u: UserState, active: ActiveTrack, e: FinalEvent): void {
    if (u.active === active) u.active = undefined;
    if (this.activeTracks().length === 0) this.idleSince = Date.now();
    if (this.fencedReason !== undefined) return;
    if (active.continues) {
      void this.writeUser(u);
      return;
    }
    const reason: UserLeftReason = active.leaveReason ?? (e.type === 'fatal_error' ? 'failed' : 'left');
    if (active.leaveReason === undefined) u.stalled = true;
    closeInterval(u, reason === 'left' && !u.present && u.leftAt ? u.leftAt : Date.now(), reason);
    this.report('user_left', {
      uid: u.uid,
      track: trackId(u.uid, active.type),
      reason,
      ...(e.type === 'fatal_error' ? { code: e.code, message: redactText(e.message) } : {}),
    });
    // The host's own trouble (disk, memory, the native recorder) would fail every user: end here.
    if (e.type === 'fatal_error' && categoryOf(e.code) === 'host') {
      this.endWith({ type: 'fatal_error', code: e.code, message: e.message });
    }
    void this.writeUser(u);
    this.updateManifest();
    // A slot may have freed for a user over maxUsers.
    if (!this.ending) void this.reconcile('directory');
  }

  private notRecorded(u: UserState, reason: UserNotRecordedReason): void {
    if (u.notRecorded === reason) return;
    if (!u.announced && u.present) {
      u.announced = true;
      this.report('user_joined', {
        uid: u.uid,
        audio: u.present.audio,
        video: u.present.video,
        recorded: false,
      });
    }
    u.notRecorded = reason;
    this.report('user_not_recorded', { uid: u.uid, reason });
    if (this.facts.notRecorded.some((n) => n.uid === u.uid && n.reason === reason)) return;
    this.facts.notRecorded.push({ uid: u.uid, reason, at: new Date().toISOString() });
    if (this.fencedReason === undefined) {
      this.outbox.fields({ notRecorded: JSON.stringify(this.facts.notRecorded) });
    }
  }

  /** Stops every track: finalized (stop, idle, hand-off) or abandoned (cancel, fenced). */
  private async endTracks(end: SessionEnd): Promise<void> {
    const abandon = this.fencedReason !== undefined || (end.type === 'stopped' && end.reason === 'cancelled');
    const endAll = (): Promise<void[]> =>
      Promise.all(
        this.activeTracks().map((a) => {
          if (this.handingOff) a.continues = true;
          else a.leaveReason ??= 'recording_ended';
          // A hand-off ends each user's track at its next cut, so the next owner's segments join cleanly.
          if (abandon) void a.track.release({ cancel: true });
          else if (this.handingOff) void a.track.endAtNextCut(this.handOffCutWithinMs());
          else void a.track.stop();
          return a.settled;
        }),
      );
    await endAll();
    // A decision under way starts nothing more (ending), but may have started a track just before.
    await this.reconcileChain;
    await endAll();
    await this.releaseStandby();
    this.recorded = true;
    await this.userWrites;
  }

  private async poll(): Promise<void> {
    try {
      const state = await this.o.record.controlState(this.o.controlTicks?.redis);
      if (state.control && !this.ending) {
        this.o.log.info({ request: state.control }, 'control request');
        this.endWith(stoppedBy(state.control));
      }
      if (state.subscriptionsVersion > this.subscriptionsVersion && !this.ending) {
        if (this.applySubscriptions(state.subscriptions, state.subscriptionsVersion)) {
          this.report('updated', {
            subscriptions: this.subscriptions,
            version: this.subscriptionsVersion,
          });
          void this.reconcile('update');
        }
      }
    } catch (err) {
      this.o.log.warn({ err }, 'control poll failed');
    }
    const now = Date.now();
    const rc = this.o.spec.recordingConfig;
    if (this.idleSince !== undefined && now - this.idleSince >= rc.maxIdleSeconds * 1000) {
      this.endWith({ type: 'stopped', reason: 'idle_timeout' });
    }
    if (now - this.facts.startedAt >= recordingDurationLimit(rc.maxDurationSeconds) * 1000) {
      this.endWith({ type: 'stopped', reason: 'max_duration' });
    }
  }

  /** Takes the subscriptions stored on the record (an update's, or the job's); false when unreadable. */
  private applySubscriptions(json: string | undefined, version: number): boolean {
    const parsed = parseSubscriptions(json);
    this.subscriptionsVersion = version;
    if (!parsed) {
      this.o.log.warn({ version }, 'unreadable subscriptions on the record; keeping the current ones');
      return false;
    }
    this.subscriptions = parsed;
    return true;
  }

  private user(uid: number, entry?: ManifestUser): UserState {
    let u = this.users.get(uid);
    if (!u) {
      u = {
        uid,
        entry: entry ?? { uid, intervals: [], tracks: [] },
        tracks: new Map(),
        present: undefined,
        active: undefined,
        announced: false,
        notRecorded: undefined,
        stalled: false,
      };
      this.users.set(uid, u);
    }
    return u;
  }

  private openTrack(uid: number, type: TrackType): Promise<RecordingTrack> {
    const { spec, record } = this.o;
    const id = trackId(uid, type);
    return RecordingTrack.open(this.trackContext(), {
      keys: userTrackObjectKeys(spec.recordingId, spec.channel, uid, type, spec.storage.prefix),
      indexKey: trackSegmentsKey(record.keyPrefix, spec.recordingId, id),
      outputDir: `${this.recordingDir}/${id}`,
      labels: { uid, track: id },
    });
  }

  private activeTracks(): ActiveTrack[] {
    return [...this.users.values()].flatMap((u) => (u.active ? [u.active] : []));
  }

  /** The user's entry with their tracks' current figures. */
  private entryOf(u: UserState): ManifestUser {
    u.entry.tracks = recordedTracks(u).map(([type, t]) => {
      const f = t.figures();
      return {
        type,
        playlistKey: t.keys.playlistKey,
        playlist: `${t.keys.baseName}.m3u8`,
        segments: f.segments,
        durationSeconds: f.durationSeconds,
        ...(t.firstProgramDateTime !== undefined
          ? { firstProgramDateTime: new Date(t.firstProgramDateTime).toISOString() }
          : {}),
      };
    });
    return u.entry;
  }

  /** Writes the user's entry under this session's epoch (putUser-2); a refusal fences the session. */
  private writeUser(u: UserState): Promise<void> {
    if (u.tracks.size === 0) return this.userWrites;
    const json = JSON.stringify(this.entryOf(u));
    const { redis, record } = this.o;
    this.userWrites = this.userWrites.then(async () => {
      if (this.fencedReason !== undefined) return;
      try {
        const written = await runScript(
          redis,
          'putUser',
          [record.keys.record, record.keys.users],
          [this.epoch, u.uid, json],
        );
        if (Number(written) === -1) {
          this.fence(`user ${u.uid} not written: epoch ${this.epoch} no longer owns the recording`);
        }
      } catch (err) {
        this.o.log.warn({ err, uid: u.uid }, 'user not saved');
      }
    });
    return this.userWrites;
  }

  private buildManifest(ended: boolean): ReturnType<typeof buildChannelManifest> {
    return buildChannelManifest(
      this.facts,
      [...this.users.values()].map((u) => this.entryOf(u)),
      ended,
    );
  }

  private updateManifest(): void {
    if (this.fencedReason === undefined) this.manifest.update(this.buildManifest(false));
  }

  protected override reportProgress(): void {
    super.reportProgress();
    for (const u of this.users.values()) if (u.active) void this.writeUser(u);
    this.updateManifest();
  }

  protected override progressSnapshot(): Record<string, unknown> {
    return {
      ...super.progressSnapshot(),
      users: [...this.users.values()].flatMap((u) =>
        [...u.tracks].map(([type, t]) => {
          const f = t.figures();
          return {
            uid: u.uid,
            track: trackId(u.uid, type),
            recording: u.active?.type === type,
            segments: f.segments,
            durationSeconds: f.durationSeconds,
          };
        }),
      ),
    };
  }

  /** The tracks with something to deliver (one that recorded nothing is discarded when recording ends). */
  protected tracks(): RecordingTrack[] {
    return [...this.users.values()].flatMap((u) => recordedTracks(u).map(([, t]) => t));
  }

  /** Ends the tracks that recorded nothing: no playlist is written for them, their spool goes. */
  private async discardEmptyTracks(): Promise<void> {
    const empty = [...this.users.values()].flatMap((u) => [...u.tracks.values()].filter((t) => t.empty));
    await Promise.all(empty.map((t) => t.discard()));
  }

  protected entryKey(): string {
    return this.manifestKey;
  }

  /** Every playlist final, then the users hash, then the final manifest (ended). */
  protected async deliver(): Promise<Delivery> {
    const delivered = await Promise.all(
      [...this.users.values()].flatMap((u) =>
        recordedTracks(u).map(async ([type, t]) => ({ id: trackId(u.uid, type), outcome: await t.finish() })),
      ),
    );
    this.facts.endedAt = Date.now();
    this.outbox.fields({ endedAt: this.facts.endedAt });
    for (const u of this.users.values()) void this.writeUser(u);
    await this.userWrites;
    let manifestError: StorageFailure | undefined;
    // A recording that failed before anyone was recorded has no manifest to show.
    const anyone = delivered.length > 0 || this.lastEnd?.type !== 'fatal_error';
    try {
      if (anyone) {
        await this.manifest.finish(this.buildManifest(true));
        await this.noteManifestWritten();
      }
    } catch (err) {
      manifestError = describeStorageFailure(err);
    }
    const missing = delivered.flatMap((d) => d.outcome.missing.map((s) => `${d.id}:${s}`));
    const backedUp = delivered.flatMap((d) => d.outcome.backedUp.map((s) => `${d.id}:${s}`));
    const failed = delivered.find((d) => d.outcome.outcome === 'failed');
    const error =
      failed?.outcome.error ?? manifestError ?? delivered.find((d) => d.outcome.error)?.outcome.error;
    const playlistWritten = manifestError === undefined && delivered.every((d) => d.outcome.playlistWritten);
    return {
      outcome: failed ? 'failed' : backedUp.length > 0 || !playlistWritten ? 'backed_up' : 'uploaded',
      playlistWritten,
      backedUp,
      missing,
      ...(error ? { error } : {}),
    };
  }

  protected override async handedOff(): Promise<void> {
    await this.userWrites;
    this.updateManifest();
  }

  protected override resultFields(): Partial<RecordingResult> {
    const { store } = this.o;
    return {
      playlists: [...this.users.values()].flatMap((u) =>
        recordedTracks(u).map(([type, t]) => ({
          uid: u.uid,
          type,
          key: t.keys.playlistKey,
          location: store.locate(t.keys.playlistKey),
        })),
      ),
      manifestKey: this.manifestKey,
      manifestLocation: store.locate(this.manifestKey),
      users: [...this.users.values()].filter((u) => recordedTracks(u).length > 0).length,
    };
  }

  protected recordingEnded(): boolean {
    return this.recorded;
  }

  protected abandon(): void {
    for (const a of this.activeTracks()) void a.track.release({ cancel: true });
    this.endWith({ type: 'stopped', reason: 'cancelled' });
  }

  async stop(): Promise<void> {
    this.endWith({ type: 'stopped', reason: 'requested' });
  }

  async handOff(): Promise<void> {
    if (this.ending) return;
    this.handingOff = true;
    this.endWith({ type: 'stopped', reason: 'requested' });
  }
}

/**
 * The user's tracks that have segments: the only ones with a playlist, in the manifest and the result.
 * A track that never got a segment (the user left before the first was cut, or their stream could not
 * be pulled) is not listed; a resumed one has its earlier owners' segments.
 */
function recordedTracks(u: UserState): [TrackType, RecordingTrack][] {
  return [...u.tracks].filter(([, t]) => !t.empty);
}

/** Ends the user's open interval (if any) at `at`. */
function closeInterval(u: UserState, at: number, reason: UserLeftReason): void {
  const open = u.entry.intervals.at(-1);
  if (!open || open.leftAt !== undefined) return;
  open.leftAt = new Date(Math.max(at, Date.parse(open.joinedAt))).toISOString();
  open.reason = reason;
}

/** A user entry of the users hash, or undefined when it is not one (the manifest's schema decides). */
function parseUserEntry(json: string): ManifestUser | undefined {
  try {
    const parsed = ManifestUserSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
