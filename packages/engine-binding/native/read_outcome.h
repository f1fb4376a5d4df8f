// How reading a source ended, and the one table that says what each ending means for the recording.
#pragma once

#include <cstddef>

#include "generated/vocabulary.h"

namespace recfleet {

enum class ReadOutcome { kStop, kSourceEnded, kMaxDuration, kIdle, kSourceLost, kFatal };

enum class AfterRead {
  kFinish,  // the recording stops normally, with the rule's stop reason
  kRejoin,  // the source went away: close the segment, wait, join it again
  kFailed,  // the fatal error is already recorded
};

struct ReadOutcomeRule {
  ReadOutcome outcome;
  AfterRead next;
  const char* stop_reason;  // for kFinish
};

// Indexed by ReadOutcome.
inline constexpr ReadOutcomeRule kReadOutcomeRules[] = {
    {ReadOutcome::kStop, AfterRead::kFinish, stop_reasons::kRequested},
    {ReadOutcome::kSourceEnded, AfterRead::kFinish, stop_reasons::kSourceEnded},
    {ReadOutcome::kMaxDuration, AfterRead::kFinish, stop_reasons::kMaxDuration},
    {ReadOutcome::kIdle, AfterRead::kFinish, stop_reasons::kIdleTimeout},
    {ReadOutcome::kSourceLost, AfterRead::kRejoin, nullptr},
    {ReadOutcome::kFatal, AfterRead::kFailed, nullptr},
};

constexpr bool ReadOutcomeRulesInOrder() {
  constexpr size_t count = sizeof kReadOutcomeRules / sizeof kReadOutcomeRules[0];
  if (count != static_cast<size_t>(ReadOutcome::kFatal) + 1) return false;
  for (size_t i = 0; i < count; i++) {
    if (static_cast<size_t>(kReadOutcomeRules[i].outcome) != i) return false;
  }
  return true;
}
static_assert(ReadOutcomeRulesInOrder(), "kReadOutcomeRules needs one rule per ReadOutcome, in its order");

inline const ReadOutcomeRule& RuleFor(ReadOutcome outcome) {
  return kReadOutcomeRules[static_cast<size_t>(outcome)];
}

}  // namespace recfleet
