// Generated from @recfleet/contract by scripts/write-native-vocabulary.mjs (src/native-vocabulary.ts):
// do not edit. `npm run vocabulary --workspace @recfleet/engine-binding` rewrites it after a change to
// the lists in src/errors.ts or the contract; src/native-vocabulary.test.ts fails while it is stale.
#pragma once

namespace recfleet {

// Event types (the contract's RECORDING_EVENTS).
namespace events {
inline constexpr char kJoined[] = "joined";
inline constexpr char kStarted[] = "started";
inline constexpr char kSegment[] = "segment";
inline constexpr char kRecorderFailure[] = "recorder_failure";
inline constexpr char kStopped[] = "stopped";
inline constexpr char kFatalError[] = "fatal_error";
}  // namespace events

// Codes of fatal_error (ERROR_CODES; NATIVE_FATAL_CODES in src/errors.ts).
namespace fatal_codes {
inline constexpr char kInvalidUrl[] = "INVALID_URL";
inline constexpr char kSourceUnreachable[] = "SOURCE_UNREACHABLE";
inline constexpr char kNoMedia[] = "NO_MEDIA";
inline constexpr char kUnsupportedCodec[] = "UNSUPPORTED_CODEC";
inline constexpr char kOutputNotWritable[] = "OUTPUT_NOT_WRITABLE";
inline constexpr char kDiskFull[] = "DISK_FULL";
inline constexpr char kOutOfMemory[] = "OUT_OF_MEMORY";
inline constexpr char kInternal[] = "INTERNAL";
}  // namespace fatal_codes

// Codes of recorder_failure (ERROR_CODES; RECORDER_FAILURE_CODES in src/errors.ts).
namespace failure_codes {
inline constexpr char kSourceUnreachable[] = "SOURCE_UNREACHABLE";
inline constexpr char kSourceLost[] = "SOURCE_LOST";
inline constexpr char kCorruptPackets[] = "CORRUPT_PACKETS";
inline constexpr char kStreamChanged[] = "STREAM_CHANGED";
inline constexpr char kSourceGap[] = "SOURCE_GAP";
}  // namespace failure_codes

// Reasons of stopped (the contract's STOP_REASONS).
namespace stop_reasons {
inline constexpr char kRequested[] = "requested";
inline constexpr char kIdleTimeout[] = "idle_timeout";
inline constexpr char kSourceEnded[] = "source_ended";
inline constexpr char kMaxDuration[] = "max_duration";
inline constexpr char kCancelled[] = "cancelled";
}  // namespace stop_reasons

}  // namespace recfleet
