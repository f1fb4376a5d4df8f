// Dates each segment on the publisher's wall clock (EXT-X-PROGRAM-DATE-TIME), so that the recordings of
// one channel's users can be aligned. A packet can reach us only after its publisher made it, so for
// every packet (arrival wall clock - timeline pts) is the wall time of timeline 0 plus that packet's
// delay; the smallest value seen estimates it with the least delay. Late packets (node-media-server's
// GOP cache sent in a burst at a join, packets buffered while probing the streams) only raise a value,
// and the live packets that follow bring it down to the publisher's time plus the network's delay.
//
// An epoch's estimate starts young: in the first second or two its live packets are few, and on a busy
// host they can all be late together (the first segment of a join came out 100-140 ms late on a loaded
// 2-core host while the later ones were within 70 ms). So a segment that closes while its epoch has seen
// less than kMatureUs of arrivals is held (HoldSegment) and dated once the estimate has matured, or the
// epoch has ended, whichever comes first; later segments are dated when they close.
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

  // Whether the segment closing now should wait for a better estimate: its epoch is still the source's
  // and has seen less than kMatureUs of arrivals.
  bool Young() const;
  // Instead of SegmentDateMs: the closing segment is held, and dated later by HeldDateMs. Every held
  // segment is of one epoch (a segment of another epoch is not young).
  void HoldSegment();
  // The held segments' estimate cannot get better: it has matured, or their epoch is over.
  bool HeldSettled() const;
  // A held segment's date (as SegmentDateMs would give it now), in the order they were held; the last
  // one calls ReleaseHeld.
  int64_t HeldDateMs(int64_t start_pts) { return DateMs(held_offset_us_, start_pts); }
  void ReleaseHeld() { held_ = false; }

  // How long an epoch's arrivals must span before its estimate is trusted for a date.
  static constexpr int64_t kMatureUs = 3'000'000;

 private:
  bool stored_ = false;
  bool known_ = false;
  uint64_t epoch_ = 0;
  int64_t offset_us_ = 0;  // wall clock at timeline 0, under epoch_
  bool segment_open_ = false;
  uint64_t segment_epoch_ = 0;
  int64_t segment_offset_us_ = 0;  // the estimate under the segment's own epoch, kept when the epoch moves on
  int64_t last_date_ms_ = INT64_MIN;
  int64_t epoch_first_arrival_us_ = 0;  // the first arrival under epoch_
  int64_t last_arrival_us_ = 0;
  bool held_ = false;
  uint64_t held_epoch_ = 0;
  int64_t held_offset_us_ = 0;

  int64_t DateMs(int64_t offset_us, int64_t start_pts);
};

}  // namespace recfleet
