#include "failure_reporter.h"

#include <cstdio>

#include "counters.h"
#include "generated/vocabulary.h"

namespace recfleet {

FailureReporter::FailureReporter(const ReportPolicy& policy, EmitFn emit)
    : reconnect_report_every_(policy.reconnect_report_every),
      corrupt_report_interval_ms_(policy.corrupt_report_interval_ms),
      emit_(std::move(emit)) {}

EventJson FailureReporter::Report(const char* code, const std::string& message) {
  EventJson e(events::kRecorderFailure);
  e.str("code", code)
      .str("message", message)
      .integer("reconnects", reconnects_)
      .integer("corruptPackets", corrupt_packets_)
      .integer("droppedPackets", dropped_packets_);
  return e;
}

void FailureReporter::OpenFailed(bool lost, const std::string& failure, bool connected) {
  reconnects_++;
  if (reconnects_ == 1 || reconnects_ % reconnect_report_every_ == 0) {
    const char* code = lost ? failure_codes::kSourceLost : failure_codes::kSourceUnreachable;
    emit_(Report(code, failure + "; retrying").boolean("connected", connected).done());
  }
}

void FailureReporter::SourceLost(const std::string& why) {
  reconnects_++;
  Post(failure_codes::kSourceLost, "the source stopped (" + why + "); reconnecting");
}

void FailureReporter::CorruptPacket(int64_t now_ms) {
  corrupt_packets_++;
  Counters::packets_dropped++;
  if (now_ms - last_corrupt_report_ms_ > corrupt_report_interval_ms_) {
    last_corrupt_report_ms_ = now_ms;
    Post(failure_codes::kCorruptPackets, "corrupt packets skipped");
  }
}

void FailureReporter::DroppedPacket() {
  dropped_packets_++;
  Counters::packets_dropped++;
}

void FailureReporter::StreamChanged(const std::string& message, const std::string& streams_json) {
  emit_(Report(failure_codes::kStreamChanged, message).raw("streams", streams_json).done());
}

void FailureReporter::SourceGap(double seconds, bool rejoined) {
  char text[96];
  std::snprintf(text, sizeof text, "no media for %.1f s%s; continuing after a discontinuity", seconds,
                rejoined ? " (the source was lost and rejoined)" : "");
  emit_(Report(failure_codes::kSourceGap, text).num("gapSeconds", seconds).done());
}

}  // namespace recfleet
