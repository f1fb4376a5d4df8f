#include "reconnect_supervisor.h"

extern "C" {
#include <libavutil/error.h>
}

#include <algorithm>
#include <cerrno>
#include <cmath>

#include "generated/vocabulary.h"

namespace recfleet {

ReconnectSupervisor::ReconnectSupervisor(const ReconnectPolicy& policy, bool is_file)
    : policy_(policy), is_file_(is_file), delay_ms_(policy.initial_delay_ms) {}

ReconnectSupervisor::OpenVerdict ReconnectSupervisor::OnOpenFailed(int averr, const std::string& failure,
                                                                 bool ever_received) const {
  if (averr == AVERROR_PROTOCOL_NOT_FOUND) return {fatal_codes::kInvalidUrl, "unsupported source URL: " + failure};
  if (averr == AVERROR(ENOMEM)) return {fatal_codes::kOutOfMemory, failure};
  // A file that cannot be opened will not open later either; what it says tells which it is.
  if (is_file_) {
    return {averr == AVERROR_INVALIDDATA ? fatal_codes::kNoMedia : fatal_codes::kSourceUnreachable, failure};
  }
  // A URL the protocol refuses outright (before any media ever came) is the job's mistake, not an outage.
  if (averr == AVERROR(EINVAL) && !ever_received) {
    return {fatal_codes::kInvalidUrl, "the source URL was refused: " + failure};
  }
  return {nullptr, std::string()};
}

void ReconnectSupervisor::Backoff() {
  int64_t next = std::llround(static_cast<double>(delay_ms_) * policy_.backoff_factor);
  delay_ms_ = std::min<int64_t>(next, policy_.max_delay_ms);
}

bool ReconnectSupervisor::Joined() {
  delay_ms_ = policy_.initial_delay_ms;
  bool rejoin = joined_before_;
  joined_before_ = true;
  return rejoin;
}

}  // namespace recfleet
