// Puts every packet on the recording's one timeline (90 kHz, the MPEG-TS clock). One muxer runs for the
// whole recording, so its timestamps must never go backwards, whatever the source does: sources restart
// their clocks at a rejoin (node-media-server's GOP cache starts at the publisher's clock), publishers
// restart behind a relay that keeps our session, encoders reset, and live RTMP repeats DTS values.
#pragma once

extern "C" {
#include <libavcodec/packet.h>
#include <libavutil/rational.h>
}

#include <cstdint>
#include <vector>

#include "recording_options.h"

namespace recfleet {

struct PacketTime {
  int64_t pts;
  int64_t dts;
  int64_t duration;
};

class TimestampRepair {
 public:
  static constexpr AVRational kTimeBase{1, 90000};

  explicit TimestampRepair(const TimelinePolicy& policy);

  // A new muxer with `streams` output streams: no stream has a last DTS yet.
  void ResetStreams(size_t streams);
  // The source was joined again: its clock starts anew, so the next packet sets a new offset.
  void Rejoin() { offset_set_ = false; }
  // The source was silent for `ticks` (a gap, 90 kHz): its next packet is put that far after what was
  // written, so the timeline keeps the wall clock's pace across the gap instead of splicing it away.
  void Skip(int64_t ticks) {
    offset_set_ = false;
    skip_ = ticks;
  }
  // The packet's time on the recording's timeline, or false when it carries no timestamp at all.
  bool Map(const AVPacket* pkt, AVRational time_base, size_t stream, PacketTime* out);
  // A packet ending at `end` (pts + duration, timeline clock) was written.
  void Written(int64_t end);
  // The end of what was written (0 before anything was).
  int64_t end() const { return max_end_; }
  // Changes whenever the offset from the source's clock to the timeline does (a rejoin, a jump).
  uint64_t epoch() const { return epoch_; }

 private:
  const int64_t start_;
  const int64_t gap_;
  const int64_t jump_back_;
  const int64_t jump_forward_;
  int64_t offset_ = 0;  // added to every source timestamp
  bool offset_set_ = false;
  int64_t skip_ = 0;  // Skip's silence, for the next offset
  uint64_t epoch_ = 0;
  std::vector<int64_t> last_dts_;  // per output stream
  int64_t max_end_ = 0;
};

}  // namespace recfleet
