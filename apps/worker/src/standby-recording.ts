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

/** What a standby gives its recording's session when it claims the recording (see RecordingTrack.adopt). */
export interface StandbyHandover {
  recorder: SessionRecorder;
  /** Finished segments still in the window, oldest first (files in the standby folder). */
  window: SegmentEvent[];
  /** The engine's sequence number of the recorder's next segment. */
  nextSequence: number;
  /** The recorder's final event (already settled when it ended while standing by). */
  ended: Promise<FinalEvent>;
  joined: boolean;
  /** The streams of the recorder's `started`, once it has started. */
  streams: StartedEvent['streams'] | undefined;
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
 * A worker's standby of a recording with redundancy 2 (takeStandby-1.lua made it so): it records the
 * same source as the owner, on another host, cutting at the same source instants, and keeps the last
 * `windowSeconds` of finished segments in its spool — delivering nothing, writing nothing but its
 * heartbeat. When the owner is lost, this worker claims the recording and `handOver` gives its recorder
 * and window to the session, which delivers from the first segment the owner did not: the segment that
 * was open when the owner died, and the ones after it, are in the window.
 */
export class StandbyRecording {
  private readonly window: SegmentEvent[] = [];
  private windowSeconds = 0;
  private nextSequence = 0;
  private joined = false;
  private streams: StartedEvent['streams'] | undefined;
  private ended: Promise<FinalEvent> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private handedOver = false;
  private lost = false;
  readonly outputDir: string;

  constructor(private readonly o: StandbyOptions) {
    this.outputDir = join(o.recordingDir, STANDBY_SPOOL_FOLDER);
  }

  /** Starts recording into the standby folder and heartbeating as the standby. */
  async start(): Promise<void> {
    const { recorder } = this.o;
    await rm(this.outputDir, { recursive: true, force: true });
    await mkdir(this.outputDir, { recursive: true });
    this.ended = new Promise<FinalEvent>((resolve) => {
      recorder.once('stopped', resolve);
      recorder.once('fatal_error', resolve);
    });
    recorder.on('joined', () => (this.joined = true));
    recorder.on('started', (e) => (this.streams = e.streams));
    recorder.on('segment', (e) => this.keep(e));
    recorder.start({
      ...this.o.recorderOptions,
      alignToSource: true,
      outputDir: this.outputDir,
      startSequence: 0,
      discontinuity: false,
    });
    this.timer = setInterval(() => void this.beat(), this.o.heartbeatMs);
    this.o.log.info(
      { windowSeconds: this.o.windowSeconds },
      'standby: recording the source beside its owner',
    );
  }

  /** Whether it still stands by (not replaced by another standby, not handed over). */
  get active(): boolean {
    return !this.lost && !this.handedOver;
  }

  /** Whether its recorder still records (one that ended — the source idle — has nothing to continue). */
  get recording(): boolean {
    return this.o.recorder.state === 'running';
  }

  private keep(e: SegmentEvent): void {
    this.nextSequence = Math.max(this.nextSequence, e.sequence + 1);
    if (this.handedOver) return;
    this.window.push(e);
    this.windowSeconds += e.durationSeconds;
    while (
      this.window.length > 1 &&
      this.windowSeconds - this.window[0]!.durationSeconds >= this.o.windowSeconds
    ) {
      const old = this.window.shift()!;
      this.windowSeconds -= old.durationSeconds;
      void rm(old.path, { force: true });
    }
  }

  private async beat(): Promise<void> {
    try {
      if (await this.o.record.heartbeat(0, this.o.identity, 'standby')) return;
    } catch (err) {
      // Unanswered proves nothing (an outage of Redis): it keeps recording, as owners do.
      this.o.log.debug({ err }, 'standby heartbeat failed');
      return;
    }
    if (this.handedOver || this.lost) return;
    this.lost = true;
    this.o.log.warn('standby: another worker is the standby now; this one stops');
    await this.close();
  }

  /** Stops standing by and gives the recorder and its window to the session of the claimed recording. */
  handOver(): StandbyHandover {
    this.handedOver = true;
    clearInterval(this.timer);
    return {
      recorder: this.o.recorder,
      window: this.window.splice(0),
      nextSequence: this.nextSequence,
      ended: this.ended!,
      joined: this.joined,
      streams: this.streams,
    };
  }

  /** Ends the standby: the recorder is released and its window removed (unless handed over). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    if (this.handedOver) return;
    await this.o.recorder.release({ cancel: true }).catch(() => undefined);
    this.window.length = 0;
    await rm(this.outputDir, { recursive: true, force: true });
  }
}
