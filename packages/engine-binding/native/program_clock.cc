#include "program_clock.h"

#include <algorithm>

#include "timestamp_repair.h"

namespace recfleet {

namespace {
static_assert(TimestampRepair::kTimeBase.num == 1 && TimestampRepair::kTimeBase.den == 90000, "a 90 kHz timeline");
// 90 kHz ticks to microseconds. A corrupt source can carry any pts: clamped (to ~8,000 years) so the
// arithmetic cannot overflow; such a date is nonsense either way, and the playlist leaves it out.
int64_t TicksToUs(int64_t ticks) {
  constexpr int64_t kMaxTicks = INT64_MAX / 400;
  return std::clamp(ticks, -kMaxTicks, kMaxTicks) * 100 / 9;
}
// To the nearest millisecond (wall times are positive).
int64_t UsToMs(int64_t us) { return (us + 500) / 1000; }
}  // namespace

void ProgramClock::Observe(uint64_t epoch, int64_t arrival_us, int64_t pts) {
  const int64_t offset = arrival_us - TicksToUs(pts);
  if (!known_ || (!stored_ && epoch != epoch_)) {
    known_ = true;
    epoch_ = epoch;
    offset_us_ = offset;
  } else if (!stored_) {
    offset_us_ = std::min(offset_us_, offset);
  }
  // Stored media keeps one anchor whatever the epoch: its repaired timeline runs on without a gap.
  if (segment_open_ && (stored_ || epoch_ == segment_epoch_)) segment_offset_us_ = offset_us_;
}

void ProgramClock::SegmentStarted() {
  segment_open_ = true;
  segment_epoch_ = epoch_;
  segment_offset_us_ = offset_us_;
}

int64_t ProgramClock::SegmentDateMs(int64_t start_pts) {
  segment_open_ = false;
  last_date_ms_ = std::max(last_date_ms_, UsToMs(segment_offset_us_ + TicksToUs(start_pts)));
  return last_date_ms_;
}

}  // namespace recfleet
