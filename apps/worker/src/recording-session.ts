import { redactUrl, type RecfleetErrorCode } from '@recfleet/contract';
import { recordingObjectKeys } from '@recfleet/storage';
import { remainingDuration } from './recording-limits.js';
import type { FinalEvent } from '@recfleet/engine-binding';
import {
  jobRecorderOptions,
  RecordingTrack,
  type SessionRecorder,
  type TrackHooks,
  type TrackRecorderOptions,
} from './recording-track.js';
import type { StandbyHandover } from './standby-recording.js';
import {
  SessionLifecycle,
  type Delivery,
  type SessionEnd,
  type SessionOptions,
} from './session-lifecycle.js';

export { SessionFencedError, type SessionOptions } from './session-lifecycle.js';
export type { RecorderFactory, SessionRecorder } from './recording-track.js';

export interface RecordingSessionOptions extends SessionOptions {
  /** The one stream this recording records (the job's `sourceUrl`). */
  sourceUrl: string;
  /** Recorders that cut on the source's clock, where a standby would (the recording has redundancy 2). */
  alignToSource?: boolean;
  /** This worker was the recording's standby: its recorder and window continue the recording. */
  standby?: StandbyHandover;
}

/** A single stream's recorder options, alike for its owner and its standby. */
export function singleStreamRecorderOptions(
  spec: RecordingSessionOptions['spec'],
  sourceUrl: string,
  gapSeconds: number,
  recordedSeconds: number,
): TrackRecorderOptions {
  const rc = spec.recordingConfig;
  return {
    ...jobRecorderOptions(spec, sourceUrl, rc.streamTypes, gapSeconds),
    maxDurationSeconds: remainingDuration(rc.maxDurationSeconds, recordedSeconds),
  };
}

/**
 * A single-stream recording (a job with a `sourceUrl`) on this worker: one track, one recorder, one
 * playlist. Its life is SessionLifecycle's steps; this class says how it records and delivers.
 */
export class RecordingSession extends SessionLifecycle {
  private readonly recorder: SessionRecorder;
  private track: RecordingTrack | undefined;
  private joined = false;
  /** Whether an open of the source failed (SOURCE_UNREACHABLE), and the engine's word on reaching it (see refusal). */
  private openFailed = false;
  private sourceReached = true;
  /** handOff ended the recorder at a cut, abandoning the segment after it, for the standby. */
  private handedOffAtCut = false;

  constructor(private readonly options: RecordingSessionOptions) {
    super(options);
    this.recorder = options.standby?.recorder ?? options.createRecorder();
  }

  protected async resume(): Promise<void> {
    const { spec, record } = this.o;
    this.track = await RecordingTrack.open(this.trackContext(), {
      keys: recordingObjectKeys(spec.recordingId, spec.channel, spec.storage.prefix),
      indexKey: record.keys.segments,
      outputDir: this.recordingDir,
      labels: {},
    });
  }

  protected tracks(): RecordingTrack[] {
    return this.track ? [this.track] : [];
  }

  protected entryKey(): string {
    return this.track!.keys.playlistKey;
  }

  /** Runs the recorder until its final event, reporting progress and acting on stop/cancel requests. */
  protected async record(): Promise<SessionEnd> {
    const pending = await this.pendingControl();
    if (pending) {
      // A standby's recorder that was to continue the recording ends here with it.
      if (this.options.standby) await this.recorder.release({ cancel: true }).catch(() => undefined);
      return pending;
    }
    const hooks: TrackHooks = {
      joined: () => {
        this.joined = true;
        this.report('joined', {});
      },
      started: (e) => {
        this.outbox.fields({ state: 'recording', startedAt: e.at });
        this.report('started', { streams: e.streams });
      },
      failure: (e) => {
        if (e.code === 'SOURCE_UNREACHABLE') this.openFailed = true;
      },
      stopped: (e) => {
        this.sourceReached = e.sourceReached;
      },
    };
    const ended = this.options.standby
      ? this.takeOver(this.options.standby, hooks)
      : this.startRecorder(hooks);
    return this.whileRecording(ended, () => this.pollControl());
  }

  private startRecorder(hooks: TrackHooks): Promise<FinalEvent> {
    const { spec } = this.o;
    const options = singleStreamRecorderOptions(
      spec,
      this.options.sourceUrl,
      this.gapSeconds(),
      this.track!.figures().durationSeconds,
    );
    const alignToSource = this.options.alignToSource ?? false;
    const ended = this.track!.record(this.recorder, { ...options, alignToSource }, hooks);
    this.o.log.info({ sourceUrl: redactUrl(this.options.sourceUrl), epoch: this.epoch }, 'recorder started');
    return ended;
  }

  /**
   * The standby's recorder continues the recording: its window's segments from the first the lost owner
   * did not deliver are delivered now, the rest as it records them.
   */
  private takeOver(standby: StandbyHandover, hooks: TrackHooks): Promise<FinalEvent> {
    const { ended, taken, gapMs } = this.track!.adopt(standby, hooks);
    this.joined = standby.joined;
    if (standby.streams) {
      this.outbox.fields({ state: 'recording' });
      this.report('started', { streams: standby.streams });
    }
    const data = { segmentsFromStandby: taken, ...(gapMs !== undefined ? { gapMs } : {}) };
    this.report('takeover', data);
    this.o.log.info({ ...data, epoch: this.epoch }, 'standby took the recording over');
    return ended;
  }

  protected async deliver(): Promise<Delivery> {
    return this.track!.finish();
  }

  /**
   * A single stream that ended with no segment at all is `uploaded` with 0 segments (an empty final
   * playlist) — an empty channel, or one stopped before anyone published — unless its source was never
   * reached: an open failed and, the engine says (`sourceReached` of its `stopped`), no attempt ever got
   * a connection (refused, no such host, unreachable, timed out). That is the job's mistake or an outage,
   * not an empty channel: SOURCE_UNREACHABLE.
   */
  protected override refusal(last: SessionEnd): { code: RecfleetErrorCode; message: string } | undefined {
    if (last.type !== 'stopped' || this.joined || this.totals().segments > 0) return undefined;
    if (!this.openFailed || this.sourceReached) return undefined;
    const url = redactUrl(this.options.sourceUrl);
    const { maxIdleSeconds } = this.o.spec.recordingConfig;
    const when = last.reason === 'idle_timeout' ? `within ${maxIdleSeconds} s` : 'before it was stopped';
    return { code: 'SOURCE_UNREACHABLE', message: `could not reach ${url} ${when}` };
  }

  protected override handOffEnd(last: SessionEnd): boolean {
    return super.handOffEnd(last) || (this.handedOffAtCut && last.type === 'stopped');
  }

  protected recordingEnded(): boolean {
    return this.recorder.state === 'ended' || this.recorder.state === 'released';
  }

  protected abandon(): void {
    void this.recorder.release({ cancel: true }).catch(() => undefined);
  }

  async stop(): Promise<void> {
    if (this.recorder.state === 'running') await this.recorder.stop().catch(() => undefined);
  }

  /**
   * Ends the recording here for another worker at the recorder's next cut (RecordingTrack.endAtNextCut).
   * A live standby (redundancy 2) cuts at the same instants and claims
   * first (claimRecording-2.lua): it delivers from exactly that cut.
   */
  async handOff(): Promise<void> {
    if (this.recorder.state !== 'running' || !this.track) return;
    this.handingOff = true;
    await this.track.endAtNextCut(this.handOffCutWithinMs(), () => (this.handedOffAtCut = true));
  }

  private async pollControl(): Promise<void> {
    try {
      const request = await this.o.record.controlRequest(this.o.controlTicks?.redis);
      if (!request || this.recorder.state !== 'running') return;
      this.o.log.info({ request }, 'control request');
      if (request === 'cancel') await this.recorder.release({ cancel: true });
      else await this.recorder.stop();
    } catch (err) {
      this.o.log.warn({ err }, 'control poll failed');
    }
  }
}
