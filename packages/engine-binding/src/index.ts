export { EngineErrorCode, RecorderError, RecorderFailureCode } from './errors.js';
export { resolveStartOptions, type RecorderStartOptions, type StreamTypes } from './options.js';
export {
  counters,
  Recorder,
  type FatalErrorEvent,
  type FinalEvent,
  type JoinedEvent,
  type RecorderEvents,
  type RecorderFailureEvent,
  type RecorderState,
  type SegmentEvent,
  type StartedEvent,
  type StoppedEvent,
  type StopReason,
  type StreamInfo,
} from './recorder.js';
export { writeLocalPlaylist } from './local-playlist.js';
export type { NativeCounters } from './loader.js';
