// Turns the recording's packets into segments: decides where to cut (the first video keyframe after
// segmentSeconds; audio-only by time; with alignToSource, the first at or after each multiple of
// segmentSeconds on the source's own clock), keeps the muxer in step with the source's streams, and
// reports each finished segment. Timestamps go through TimestampRepair first; the files through
// SegmentWriter.
#pragma once

extern "C" {
#include <libavformat/avformat.h>
}

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "event_json.h"
#include "program_clock.h"
#include "recording_options.h"
#include "segment_writer.h"
#include "stream_selection.h"
#include "timestamp_repair.h"

namespace recfleet {

class SegmentCutter {
 public:
  enum class Written { kOk, kNoTimestamp, kFailed };

  SegmentCutter(const RecordingOptions& options, EmitFn emit);

  // Makes the muxer fit the selected streams. A muxer with another layout (the source changed codec or
  // resolution) is finished and replaced, and `*replaced` is set: the next segment is flagged.
  bool Configure(const StreamSelection& selection, bool* replaced, WriteError* err);
  // True when the packet carries codec configuration other than the muxer's (it is remembered).
  bool ExtradataChanged(const AVPacket* pkt, int output_index);
  // Finishes the current segment and starts a muxer with the input's current parameters and the newest
  // extradata of each stream. Timestamps carry on.
  bool Rebuild(const AVFormatContext* ic, const StreamSelection& selection, WriteError* err);
  // The source was joined again: the open segment ends at the next keyframe, the next one is flagged,
  // and the source's new clock is put after what was written.
  void Rejoined();
  void FlagNextSegment() { next_discontinuity_ = true; }
  // The source sent nothing for `silence_ticks` (90 kHz) although connected, or came back after that long
  // (a rejoin): the open segment ends where its media does, the next one is flagged, and the source's next
  // packet goes that far after what was written.
  bool Gap(int64_t silence_ticks, WriteError* err);

  // The source is stored media (a file, a VOD): see ProgramClock.
  void SetStoredMedia(bool stored) { clock_.SetStoredMedia(stored); }

  // Writes one packet (timestamps in `time_base`), first cutting the segment when the packet is a cut point.
  // `arrival_us`: the wall clock (CLOCK_REALTIME) when it was read, for the segments' program dates.
  Written Write(AVPacket* pkt, AVRational time_base, const StreamMap& stream, bool have_video, int64_t arrival_us,
                WriteError* err);
  // Completes the open segment and reports it; `last` also ends the muxer.
  bool Cut(bool last, WriteError* err);
  // Reports the segments held for their program dates (ProgramClock::HoldSegment) with the estimate as
  // it stands: the source went quiet or away, and waiting for it would hold back finished segments.
  void ReleaseHeld();
  bool holding() const { return !held_.empty(); }
  // Drops the open segment (cancel, or after a fatal error); segments already finished are reported.
  void Abandon();
  // Frees the muxer (the recording is over).
  void Close() {
    ReleaseHeld();
    writer_.reset();
  }

  bool segment_open() const { return writer_ && writer_->segment_open(); }
  bool output_started() const { return segments_ > 0 || segment_open(); }
  int64_t segments() const { return segments_; }
  double recorded_seconds() const { return recorded_seconds_; }
  // Media written since the recording's first packet, for maxDurationSeconds.
  double span_seconds() const;

 private:
  // A finished segment, as its `segment` event reports it.
  struct FinishedSegment {
    int64_t sequence;
    std::string path;
    double duration;
    int64_t bytes;
    int64_t start_ts;
    bool starts_keyframe;
    bool discontinuity;
    int64_t source_start_ms;  // on the source's own clock, before the timeline repair
    int64_t source_end_ms;
  };

  bool StartMuxer(const std::vector<const AVCodecParameters*>& params, WriteError* err);
  // Whether a cut point at `pts` (timeline) / `source_ms` (source clock) ends the open segment by time.
  bool CutDue(int64_t pts, int64_t source_ms);
  void Report(const FinishedSegment& s, int64_t program_date_ms);

  const std::string output_dir_;
  const std::string file_prefix_;
  const double segment_seconds_;
  const bool align_to_source_;
  const int64_t heap_trim_interval_ms_;
  EmitFn emit_;
  TimestampRepair repair_;
  ProgramClock clock_;
  std::unique_ptr<SegmentWriter> writer_;
  std::vector<std::string> layout_;  // codec signature of the muxer's streams
  std::vector<std::vector<uint8_t>> extradata_;  // per output stream, to notice in-band changes
  int64_t sequence_;
  bool next_discontinuity_;
  bool force_cut_ = false;
  bool segment_has_start_ = false;
  int64_t segment_start_ts_ = 0;
  bool segment_starts_keyframe_ = false;
  bool segment_discontinuity_ = false;
  int64_t pending_cut_ts_ = AV_NOPTS_VALUE;
  int64_t segment_source_start_ms_ = 0;
  int64_t pending_cut_source_ms_ = AV_NOPTS_VALUE;  // the cutting packet's source time; none for a forced cut
  // alignToSource: the open segment ends at the first cut point at or after this source time; none when the
  // source's clock went back below the segment's start (it then ends by its length, as without the option).
  int64_t grid_next_ms_ = AV_NOPTS_VALUE;
  int64_t recording_start_ts_ = 0;
  int64_t segments_ = 0;
  double recorded_seconds_ = 0;
  std::vector<FinishedSegment> held_;  // finished, waiting for their epoch's estimate to mature
};

}  // namespace recfleet
