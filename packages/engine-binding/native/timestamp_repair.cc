#include "timestamp_repair.h"

extern "C" {
#include <libavutil/avutil.h>
#include <libavutil/mathematics.h>
}

#include <algorithm>
#include <cmath>

namespace recfleet {

namespace {
int64_t Ticks(double seconds) { return std::llround(seconds * TimestampRepair::kTimeBase.den); }
}  // namespace

TimestampRepair::TimestampRepair(const TimelinePolicy& policy)
    : start_(Ticks(policy.start_seconds)),
      gap_(Ticks(policy.gap_seconds)),
      jump_back_(Ticks(policy.jump_back_seconds)),
      jump_forward_(Ticks(policy.jump_forward_seconds)) {}

void TimestampRepair::ResetStreams(size_t streams) { last_dts_.assign(streams, AV_NOPTS_VALUE); }

void TimestampRepair::Written(int64_t end) {
  if (end > max_end_) max_end_ = end;
}

bool TimestampRepair::Map(const AVPacket* pkt, AVRational time_base, size_t stream, PacketTime* out) {
  int64_t pts = pkt->pts, dts = pkt->dts;
  if (dts == AV_NOPTS_VALUE) dts = pts;
  if (dts == AV_NOPTS_VALUE) return false;
  if (pts == AV_NOPTS_VALUE) pts = dts;
  dts = av_rescale_q(dts, time_base, kTimeBase);
  pts = av_rescale_q(pts, time_base, kTimeBase);
  int64_t duration = pkt->duration > 0 ? av_rescale_q(pkt->duration, time_base, kTimeBase) : 0;

  if (!offset_set_) {
    // First packet after a (re)join: continue right after what was written before (the first recording
    // starts at the timeline's start), so the muxer never sees time go backwards.
    int64_t base = max_end_ > 0 ? max_end_ + std::max(gap_, skip_) : start_;
    skip_ = 0;
    offset_ = base - dts;
    offset_set_ = true;
    epoch_++;
  }
  dts += offset_;
  pts += offset_;

  // A clock that jumps would otherwise squash everything after it onto last + 1 or leave a long hole:
  // continue the timeline right after what was written, like the ffmpeg CLI does for discontinuous formats.
  int64_t& last = last_dts_[stream];
  if ((last != AV_NOPTS_VALUE && dts < last - jump_back_) || (max_end_ > 0 && dts > max_end_ + jump_forward_)) {
    int64_t shift = max_end_ + gap_ - dts;
    offset_ += shift;
    epoch_++;
    dts += shift;
    pts += shift;
  }

  // Repair as the ffmpeg CLI does: strictly increasing DTS per stream, PTS never before DTS.
  if (last != AV_NOPTS_VALUE && dts <= last) dts = last + 1;
  if (pts < dts) pts = dts;
  last = dts;
  *out = PacketTime{pts, dts, duration};
  return true;
}

}  // namespace recfleet
