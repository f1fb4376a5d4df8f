import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { FinalEvent, SegmentEvent, StartedEvent } from '@recfleet/engine-binding';
import type { Logger } from 'pino';
import type { RecordingRecord } from './recording-record.js';
import type { SessionRecorder, TrackRecorderOptions } from './recording-track.js';

/**
 * The folder, inside a recording's spool folder, of a standby's segments. Spool recovery removes it: a
 * standby's segments are delivered only once it owns the recording, and then each is first moved out of
 * this folder into the recording's own, under the sequence number it is reserved with.
 */
export const STANDBY_SPOOL_FOLDER = '.standby';

/** What a standby's recorder gives its track when the standby claims the recording (see RecordingTrack.adopt). */
export interface StandbyHandover {
  recorder: SessionRecorder;
  /**
   * Finished segments still in the window, oldest first (files in the standby folder), and from then on
   * none: the caller listens to the recorder's segments in the same tick. The window goes on filling
   * between the hand-over and this call (a channel's session joins the channel first), so that a
   * segment finished meanwhile is not lost.
   */
  takeWindow(): SegmentEvent[];
  /** The recorder's final event (already settled when it ended while standing by). */
  ended: Promise<FinalEvent>;
  joined: boolean;
  /** The streams of the recorder's `started`, once it has started. */
  streams: StartedEvent['streams'] | undefined;
}

/**
 * What a worker holds while it stands by for a recording — a single stream's StandbyRecording, or a
 * channel's ChannelStandby — and hands to the recording's session once it has claimed the recording.
 */
export interface Standby<H> {
  /** Whether it still stands by (not replaced by another standby, not handed over). */
  readonly active: boolean;
  /** Whether it has something to continue (a recorder that ended — the source idle — has not). */
  readonly recording: boolean;
  handOver(): H;
  /** Ends the standby: its recorders are released and their windows removed (unless handed over). */
  close(): Promise<void>;
}

/**
 * One recorder standing by: it records a source into `outputDir`, cutting on the source's clock where
 * the owner cuts (`alignToSource`), and keeps the last `windowSeconds` of finished segments, deleting
 * older ones. A single stream has one; a channel's standby one per user's track.
 */
export class StandbyTrack {
  private readonly window: SegmentEvent[] = [];
  private windowSeconds = 0;
  private joined = false;
  private streams: StartedEvent['streams'] | undefined;
  private readonly ended: Promise<FinalEvent>;
  private handedOver = false;
  /** The window was taken: segments from now on are the adopter's. */
  private taken = false;

  constructor(
    readonly recorder: SessionRecorder,
    readonly outputDir: string,
    private readonly keepSeconds: number,
  ) {
    this.ended = new Promise<FinalEvent>((resolve) => {
      recorder.once('stopped', resolve);
      recorder.once('fatal_error', resolve);
    });
    recorder.on('joined', () => (this.joined = true));
    recorder.on('started', (e) => (this.streams = e.streams));
    recorder.on('segment', (e) => this.keep(e));
  }

  /** Starts the recorder into a fresh `outputDir`. */
  async start(options: TrackRecorderOptions): Promise<void> {
    await rm(this.outputDir, { recursive: true, force: true });
    await mkdir(this.outputDir, { recursive: true });
    this.recorder.start({
      ...options,
      alignToSource: true,
      outputDir: this.outputDir,
      startSequence: 0,
      discontinuity: false,
    });
  }

  /** Whether its recorder still records. */
  get recording(): boolean {
    return this.recorder.state === 'running';
  }

  private keep(e: SegmentEvent): void {
    if (this.taken) return;
    this.window.push(e);
    this.windowSeconds += e.durationSeconds;
    while (
      this.window.length > 1 &&
      this.windowSeconds - this.window[0]!.durationSeconds >= this.keepSeconds
    ) {
      const old = this.window.shift()!;
      this.windowSeconds -= old.durationSeconds;
      void rm(old.path, { force: true });
    }
  }

  /** Gives the recorder and its window to the track that continues with it. */
  handOver(): StandbyHandover {
    this.handedOver = true;
    // What the recorder says until the window is taken counts: joined and streams are read then.
    const seen = (): { joined: boolean; streams: StartedEvent['streams'] | undefined } => ({
      joined: this.joined,
      streams: this.streams,
    });
    return {
      recorder: this.recorder,
      takeWindow: () => {
        this.taken = true;
        return this.window.splice(0);
      },
      ended: this.ended,
      get joined() {
        return seen().joined;
      },
      get streams() {
        return seen().streams;
      },
    };
  }

  /** Releases the recorder and removes its window (unless handed over). */
  async close(): Promise<void> {
    if (this.handedOver) return;
    await this.recorder.release({ cancel: true }).catch(() => undefined);
    this.window.length = 0;
    await rm(this.outputDir, { recursive: true, force: true });
  }
}

/**
 * The standby's heartbeat on the record (heartbeat-1.lua, role `standby`): while it is accepted this
 * worker is the recording's one standby. Refused — another worker is the standby now — it calls `lost`
 * once. Unanswered proves nothing (an outage of Redis): it keeps standing by, as owners keep recording.
 */
export class StandbyHeartbeat {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly record: RecordingRecord,
    private readonly identity: string,
    private readonly log: Logger,
    private readonly lost: () => Promise<void>,
  ) {}

  start(everyMs: number): void {
    this.timer = setInterval(() => void this.beat(), everyMs);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private async beat(): Promise<void> {
    try {
      if (await this.record.heartbeat(0, this.identity, 'standby')) return;
    } catch (err) {
      this.log.debug({ err }, 'standby heartbeat failed');
      return;
    }
    if (this.stopped) return;
    this.stop();
    this.log.warn('standby: another worker is the standby now; this one stops');
    await this.lost();
  }
}

export interface StandbyOptions {
  record: RecordingRecord;
  identity: string;
  /** The recording's spool folder (the standby records into its STANDBY_SPOOL_FOLDER). */
  recordingDir: string;
  recorder: SessionRecorder;
  /** The owner's recorder options: a standby cuts where the owner cuts (`alignToSource`). */
  recorderOptions: Omit<TrackRecorderOptions, 'alignToSource'>;
  /** Finished segments are kept while the newer ones last less than this. */
  windowSeconds: number;
  heartbeatMs: number;
  log: Logger;
}

/**
 * A worker's standby of a single stream with redundancy 2 (takeStandby-1.lua made it so): it records
 * the same source as the owner, on another host, cutting at the same source instants, and keeps the last
 * `windowSeconds` of finished segments in its spool — delivering nothing, writing nothing but its
 * heartbeat. When the owner is lost, this worker claims the recording and `handOver` gives its recorder
 * and window to the session, which delivers from the first segment the owner did not: the segment that
 * was open when the owner died, and the ones after it, are in the window.
 */
export class StandbyRecording implements Standby<StandbyHandover> {
  private readonly track: StandbyTrack;
  private readonly heartbeat: StandbyHeartbeat;
  private handedOver = false;
  private lost = false;

  constructor(private readonly o: StandbyOptions) {
    this.track = new StandbyTrack(o.recorder, join(o.recordingDir, STANDBY_SPOOL_FOLDER), o.windowSeconds);
    this.heartbeat = new StandbyHeartbeat(o.record, o.identity, o.log, async () => {
      this.lost = true;
      await this.close();
    });
  }

  get outputDir(): string {
    return this.track.outputDir;
  }

  /** Starts recording into the standby folder and heartbeating as the standby. */
  async start(): Promise<void> {
    await this.track.start(this.o.recorderOptions);
    this.heartbeat.start(this.o.heartbeatMs);
    this.o.log.info(
      { windowSeconds: this.o.windowSeconds },
      'standby: recording the source beside its owner',
    );
  }

  get active(): boolean {
    return !this.lost && !this.handedOver;
  }

  get recording(): boolean {
    return this.track.recording;
  }

  handOver(): StandbyHandover {
    this.handedOver = true;
    this.heartbeat.stop();
    return this.track.handOver();
  }

  async close(): Promise<void> {
    this.heartbeat.stop();
    if (this.handedOver) return;
    await this.track.close();
  }
}
