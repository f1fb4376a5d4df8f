// What one recording is told to do, copied from the JavaScript options object on the main thread
// (recorder_object.cc). Every field is set from TypeScript, which checked it and chose its default
// (src/native-options.ts): none has a default or a fallback here, so a value the C++ uses is always the
// one the TypeScript documents.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace recfleet {

// How the recording's timeline is laid out and repaired (timestamp_repair.h), in seconds.
struct TimelinePolicy {
  double start_seconds;
  double gap_seconds;
  double jump_back_seconds;
  double jump_forward_seconds;
};

// How a lost or unreachable source is reopened (reconnect_supervisor.h).
struct ReconnectPolicy {
  int64_t initial_delay_ms;
  int64_t max_delay_ms;
  double backoff_factor;
};

// How often recurring trouble is reported (failure_reporter.h).
struct ReportPolicy {
  int64_t reconnect_report_every;
  int64_t corrupt_report_interval_ms;
};

// Which code reads the source (src/native-options.ts decides it from the URL).
enum class SourceReader {
  kLibavformat,  // avformat_open_input on the URL: every protocol libavformat has
  kRtmp,         // rtmp(s)://: the engine's buffered RTMP client (rtmp_play_session.h) into the FLV demuxer
  kUdp,          // udp://: batched datagram reads (udp_ts_input.h) into the MPEG-TS demuxer
  kRtp,          // rtp:// of MPEG-TS: the same, with the RTP headers taken off
};

// How the engine's own readers use the socket (buffered_socket.h).
struct ReadPolicy {
  SourceReader reader;
  int64_t buffer_bytes;      // one receive takes up to this much
  int64_t low_water_bytes;   // once media flows, sleep until this much has arrived (SO_RCVLOWAT); 0: off
  int64_t poll_interval_ms;  // the longest wait between two looks at stop/cancel and the deadlines
};

struct RecordingOptions {
  std::string source_url;
  std::string output_dir;
  std::string file_prefix;
  std::vector<std::pair<std::string, std::string>> input_options;  // for avformat_open_input
  bool is_file;
  bool ends_at_known_duration;
  bool want_audio;
  bool want_video;
  double segment_seconds;
  double max_idle_seconds;
  double max_duration_seconds;  // 0: none
  int64_t start_sequence;
  bool discontinuity;
  bool align_to_source;  // cut on the source clock's grid of segment_seconds (segment_cutter.cc)
  double gap_seconds;  // silence from a connected source that is a gap (recording_loop.cc); 0: none
  int64_t connect_timeout_ms;
  int64_t read_timeout_ms;
  int64_t min_connect_attempt_ms;
  int64_t heap_trim_interval_ms;
  // Resolved before each open; a name that does not resolve was not reached (libavformat says EIO).
  std::string resolve_host;  // "": none
  // An open that got no answer at all (timed out, EIO) did not reach the source (SRT: no handshake).
  bool unanswered_open_unreached;
  ReadPolicy read;
  ReconnectPolicy reconnect;
  ReportPolicy reports;
  TimelinePolicy timeline;
};

}  // namespace recfleet
