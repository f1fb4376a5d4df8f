// The decisions around (re)joining a source, apart from the loop that reads its packets: whether a
// failed open is final or worth another attempt, how long to wait before it (backoff as ReconnectPolicy
// says), and whether a join is a rejoin. It does no I/O; RecordingLoop carries its decisions out.
#pragma once

#include <cstdint>
#include <string>

#include "recording_options.h"

namespace recfleet {

class ReconnectSupervisor {
 public:
  // What to do about a failed open: `fatal_code` set ends the recording with it; null retries.
  struct OpenVerdict {
    const char* fatal_code;
    std::string message;
  };

  ReconnectSupervisor(const ReconnectPolicy& policy, bool is_file);

  OpenVerdict OnOpenFailed(int averr, const std::string& failure, bool ever_received) const;
  // The wait before the next attempt to open the source.
  int64_t delay_ms() const { return delay_ms_; }
  // An attempt failed: the next wait is longer, up to the policy's maximum.
  void Backoff();
  // The source was joined and its streams set up. Returns true when it had been joined before.
  bool Joined();
  // For the `joined` event, before the streams are set up.
  bool joined_before() const { return joined_before_; }

 private:
  const ReconnectPolicy policy_;
  const bool is_file_;
  int64_t delay_ms_;
  bool joined_before_ = false;
};

}  // namespace recfleet
