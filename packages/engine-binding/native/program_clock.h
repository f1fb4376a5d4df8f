// Dates each segment on the publisher's wall clock (EXT-X-PROGRAM-DATE-TIME), so that the recordings of
// one channel's users can be aligned. A packet can reach us only after its publisher made it, so for
// every packet (arrival wall clock - timeline pts) is the wall time of timeline 0 plus that packet's
// delay; the smallest value seen estimates it with the least delay. Late packets (node-media-server's
// GOP cache sent in a burst at a join, packets buffered while probing the streams) only raise a value,
// and the live packets that follow bring it down to the publisher's time plus the network's delay.
//
// The estimate holds for one mapping of the source's clock onto the timeline: a rejoin or a clock jump
// re-bases the source (TimestampRepair's epoch), so it starts again. Stored media (a file, a VOD) is
// read faster than real time and has no publisher clock: its timeline is anchored at the wall time its
// first packet was read, as if it were played from the moment the recording started.
#pragma once

#include <cstdint>

namespace recfleet {

class ProgramClock {
 public:
  // Stored media: anchored at its first packet instead (see above).
  void SetStoredMedia(bool stored) { stored_ = stored; }
  // A packet mapped under `epoch` to `pts` (90 kHz timeline) arrived at `arrival_us` (CLOCK_REALTIME).
  void Observe(uint64_t epoch, int64_t arrival_us, int64_t pts);
  // The packet observed last starts a segment.
  void SegmentStarted();
  // Milliseconds since the Unix epoch of the current segment's first packet (`start_pts`), with the
  // estimate as it stands now; never before the previous segment's date (the wall clock may be set back).
  int64_t SegmentDateMs(int64_t start_pts);

 private:
  bool stored_ = false;
  bool known_ = false;
  uint64_t epoch_ = 0;
  int64_t offset_us_ = 0;  // wall clock at timeline 0, under epoch_
  bool segment_open_ = false;
  uint64_t segment_epoch_ = 0;
  int64_t segment_offset_us_ = 0;  // the estimate under the segment's own epoch, kept when the epoch moves on
  int64_t last_date_ms_ = INT64_MIN;
};

}  // namespace recfleet
