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
    epoch_first_arrival_us_ = arrival_us;
  } else if (!stored_) {
    offset_us_ = std::min(offset_us_, offset);
  }
  // Stored media keeps one anchor whatever the epoch: its repaired timeline runs on without a gap.
  last_arrival_us_ = arrival_us;
  if (segment_open_ && (stored_ || epoch_ == segment_epoch_)) segment_offset_us_ = offset_us_;
  if (held_ && (stored_ || epoch_ == held_epoch_)) held_offset_us_ = offset_us_;
}

void ProgramClock::SegmentStarted() {
  segment_open_ = true;
  segment_epoch_ = epoch_;
  segment_offset_us_ = offset_us_;
}

int64_t ProgramClock::DateMs(int64_t offset_us, int64_t start_pts) {
  last_date_ms_ = std::max(last_date_ms_, UsToMs(offset_us + TicksToUs(start_pts)));
  return last_date_ms_;
}

int64_t ProgramClock::SegmentDateMs(int64_t start_pts) {
  segment_open_ = false;
  return DateMs(segment_offset_us_, start_pts);
}

// Stored media is anchored once and for all: nothing to wait for.
bool ProgramClock::Young() const {
  return !stored_ && segment_open_ && segment_epoch_ == epoch_ && last_arrival_us_ - epoch_first_arrival_us_ < kMatureUs;
}

void ProgramClock::HoldSegment() {
  segment_open_ = false;
  held_ = true;
  held_epoch_ = segment_epoch_;
  held_offset_us_ = segment_offset_us_;
}

bool ProgramClock::HeldSettled() const {
  return held_ && (epoch_ != held_epoch_ || last_arrival_us_ - epoch_first_arrival_us_ >= kMatureUs);
}

}  // namespace recfleet
