#include "failure_reporter.h"

#include "counters.h"
#include "generated/vocabulary.h"

namespace recfleet {

FailureReporter::FailureReporter(const ReportPolicy& policy, EmitFn emit)
    : reconnect_report_every_(policy.reconnect_report_every),
      corrupt_report_interval_ms_(policy.corrupt_report_interval_ms),
      emit_(std::move(emit)) {}

void FailureReporter::Report(const char* code, const std::string& message) {
  emit_(EventJson(events::kRecorderFailure)
            .str("code", code)
            .str("message", message)
            .integer("reconnects", reconnects_)
            .integer("corruptPackets", corrupt_packets_)
            .integer("droppedPackets", dropped_packets_)
            .done());
}

void FailureReporter::OpenFailed(bool lost, const std::string& failure) {
  reconnects_++;
  if (reconnects_ == 1 || reconnects_ % reconnect_report_every_ == 0) {
    Report(lost ? failure_codes::kSourceLost : failure_codes::kSourceUnreachable, failure + "; retrying");
  }
}

void FailureReporter::SourceLost(const std::string& why) {
  reconnects_++;
  Report(failure_codes::kSourceLost, "the source stopped (" + why + "); reconnecting");
}

void FailureReporter::CorruptPacket(int64_t now_ms) {
  corrupt_packets_++;
  Counters::packets_dropped++;
  if (now_ms - last_corrupt_report_ms_ > corrupt_report_interval_ms_) {
    last_corrupt_report_ms_ = now_ms;
    Report(failure_codes::kCorruptPackets, "corrupt packets skipped");
  }
}

void FailureReporter::DroppedPacket() {
  dropped_packets_++;
  Counters::packets_dropped++;
}

void FailureReporter::StreamChanged(const std::string& message) { Report(failure_codes::kStreamChanged, message); }

}  // namespace recfleet
