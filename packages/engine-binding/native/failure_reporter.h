// Counts the trouble a recording works around and reports it as `recorder_failure` events, throttled
// as ReportPolicy says so that a source that keeps failing does not flood the worker with events.
#pragma once

#include <cstdint>
#include <string>

#include "event_json.h"
#include "recording_options.h"

namespace recfleet {

class FailureReporter {
 public:
  FailureReporter(const ReportPolicy& policy, EmitFn emit);

  // An attempt to open the source failed and will be retried: reported the first time and then every
  // `reconnect_report_every` attempts. `lost`: media was received before (the source went away).
  // `connected`: the attempt reached the source (RecordingLoop::ReachedSource).
  void OpenFailed(bool lost, const std::string& failure, bool connected);
  // A joined source stopped sending (end of stream, an I/O error, a read timeout); it is rejoined.
  void SourceLost(const std::string& why);
  // A packet the demuxer flagged corrupt was skipped; reported at most once per interval.
  void CorruptPacket(int64_t now_ms);
  // A packet was dropped (no timestamp, or it cannot be decoded without one that was skipped).
  void DroppedPacket();
  // The source's streams changed; `streams_json`: the new streams, as in the `started` event.
  void StreamChanged(const std::string& message, const std::string& streams_json);
  // A connected source sent nothing for `seconds`; or came back after that long.
  void SourceGap(double seconds, bool rejoined);

 private:
  EventJson Report(const char* code, const std::string& message);
  void Post(const char* code, const std::string& message) { emit_(Report(code, message).done()); }

  const int64_t reconnect_report_every_;
  const int64_t corrupt_report_interval_ms_;
  EmitFn emit_;
  int64_t reconnects_ = 0;
  int64_t corrupt_packets_ = 0;
  int64_t dropped_packets_ = 0;
  int64_t last_corrupt_report_ms_ = 0;
};

}  // namespace recfleet
