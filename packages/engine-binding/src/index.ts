export {
  ENGINE_ERROR_CODES,
  EngineErrorCode,
  NATIVE_FATAL_CODES,
  RECORDER_FAILURE_CODES,
  RecorderError,
  RecorderFailureCode,
} from './errors.js';
export {
  RECORDER_OPTION_RULES,
  resolveRecorderOptions,
  type RecorderOptions,
  type RecorderPolicy,
} from './recorder-options.js';
export {
  CONNECT_TIMEOUT_SECONDS_RULE,
  READ_TIMEOUT_SECONDS_RULE,
  resolveStartOptions,
  START_SEQUENCE_RULE,
  TIMELINE_START_RULE,
  type RecorderStartOptions,
  type StreamTypes,
} from './start-options.js';
export {
  counters,
  nativeReaders,
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
export { NATIVE_EVENTS } from './native-vocabulary.js';
export type { NativeCounters } from './loader.js';
