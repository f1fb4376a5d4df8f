#include "segment_cutter.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/mem.h>
}

#include <algorithm>
#include <cmath>
#include <cstring>

#include "generated/vocabulary.h"
#include "memory_release.h"

namespace recfleet {

namespace {
double Seconds(int64_t ticks) { return static_cast<double>(ticks) / TimestampRepair::kTimeBase.den; }

// The packet's time on the source's own clock, in ms (AV_NOPTS_VALUE when it has none).
int64_t SourceMs(const AVPacket* pkt, AVRational time_base) {
  int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
  return ts == AV_NOPTS_VALUE ? AV_NOPTS_VALUE : av_rescale_q(ts, time_base, AVRational{1, 1000});
}

// The smallest multiple of `period_ms` after `ms` (floor division, so also for a clock below zero).
int64_t NextMultiple(int64_t ms, int64_t period_ms) {
  int64_t q = ms / period_ms;
  if (ms % period_ms != 0 && ms < 0) q--;
  return (q + 1) * period_ms;
}
}  // namespace

SegmentCutter::SegmentCutter(const RecordingOptions& options, EmitFn emit)
    : output_dir_(options.output_dir),
      file_prefix_(options.file_prefix),
      segment_seconds_(options.segment_seconds),
      align_to_source_(options.align_to_source),
      heap_trim_interval_ms_(options.heap_trim_interval_ms),
      emit_(std::move(emit)),
      repair_(options.timeline),
      sequence_(options.start_sequence),
      next_discontinuity_(options.discontinuity) {}

double SegmentCutter::span_seconds() const { return Seconds(repair_.end() - recording_start_ts_); }

bool SegmentCutter::StartMuxer(const std::vector<const AVCodecParameters*>& params, WriteError* err) {
  writer_ = std::make_unique<SegmentWriter>(output_dir_, file_prefix_);
  return writer_->Init(params, err);
}

bool SegmentCutter::Configure(const StreamSelection& selection, bool* replaced, WriteError* err) {
  *replaced = false;
  if (writer_ && selection.layout != layout_) {
    if (writer_->segment_open() && !Cut(true, err)) return false;
    writer_.reset();
    next_discontinuity_ = true;
    *replaced = true;
  }
  if (writer_) return true;
  if (!StartMuxer(selection.params, err)) return false;
  layout_ = selection.layout;
  repair_.ResetStreams(selection.params.size());
  extradata_.clear();
  for (const AVCodecParameters* par : selection.params) {
    extradata_.emplace_back(par->extradata, par->extradata + (par->extradata ? par->extradata_size : 0));
  }
  return true;
}

bool SegmentCutter::ExtradataChanged(const AVPacket* pkt, int output_index) {
  size_t size = 0;
  const uint8_t* data = NewExtradata(pkt, &size);
  if (!data || size == 0) return false;
  std::vector<uint8_t>& current = extradata_[output_index];
  if (current.size() == size && std::memcmp(current.data(), data, size) == 0) return false;
  current.assign(data, data + size);
  return true;
}

bool SegmentCutter::Rebuild(const AVFormatContext* ic, const StreamSelection& selection, WriteError* err) {
  if (writer_->segment_open() && !Cut(true, err)) return false;
  std::vector<AVCodecParameters*> owned;
  std::vector<const AVCodecParameters*> params(selection.map.size(), nullptr);
  bool ok = true;
  for (const StreamMap& m : selection.map) {
    AVCodecParameters* par = avcodec_parameters_alloc();
    if (!par) {
      ok = false;
      break;
    }
    owned.push_back(par);
    if (avcodec_parameters_copy(par, ic->streams[m.input_index]->codecpar) < 0) {
      ok = false;
      break;
    }
    const std::vector<uint8_t>& extradata = extradata_[m.output_index];
    if (!extradata.empty()) {
      av_freep(&par->extradata);
      par->extradata = static_cast<uint8_t*>(av_mallocz(extradata.size() + AV_INPUT_BUFFER_PADDING_SIZE));
      if (!par->extradata) {
        par->extradata_size = 0;
        ok = false;
        break;
      }
      std::memcpy(par->extradata, extradata.data(), extradata.size());
      par->extradata_size = static_cast<int>(extradata.size());
    }
    params[m.output_index] = par;
  }
  *err = WriteError{fatal_codes::kOutOfMemory, "cannot copy the stream parameters"};
  if (ok) ok = StartMuxer(params, err);
  for (AVCodecParameters* par : owned) avcodec_parameters_free(&par);
  return ok;
}

void SegmentCutter::Rejoined() {
  ReleaseHeld();
  if (segment_open()) force_cut_ = true;
  next_discontinuity_ = true;
  repair_.Rejoin();
}

bool SegmentCutter::Gap(int64_t silence_ticks, WriteError* err) {
  if (segment_open() && !Cut(false, err)) return false;
  ReleaseHeld();
  force_cut_ = false;
  next_discontinuity_ = true;
  repair_.Skip(silence_ticks);
  return true;
}

SegmentCutter::Written SegmentCutter::Write(AVPacket* pkt, AVRational time_base, const StreamMap& stream,
                                            bool have_video, int64_t arrival_us, WriteError* err) {
  // Taken before the repair: two recorders of one source see the same source times whenever they joined.
  const int64_t source_ms = SourceMs(pkt, time_base);
  PacketTime t;
  if (!repair_.Map(pkt, time_base, stream.output_index, &t)) return Written::kNoTimestamp;
  // Before a cut: a packet that cuts is the open segment's last word on the estimate too.
  clock_.Observe(repair_.epoch(), arrival_us, t.pts);
  if (clock_.HeldSettled()) ReleaseHeld();

  bool key = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
  bool cut_point = have_video ? (stream.is_video && key) : true;
  if (segment_has_start_ && cut_point && (force_cut_ || CutDue(t.pts, source_ms))) {
    pending_cut_ts_ = t.pts;
    // A forced cut is a rejoin: the source's clock may have started anew, so this packet's time is not
    // where the segment ends on it.
    pending_cut_source_ms_ = force_cut_ ? AV_NOPTS_VALUE : source_ms;
    bool ok = Cut(false, err);
    pending_cut_ts_ = AV_NOPTS_VALUE;
    pending_cut_source_ms_ = AV_NOPTS_VALUE;
    if (!ok) return Written::kFailed;
    force_cut_ = false;
  }
  if (!writer_->segment_open() && !writer_->OpenSegment(sequence_, err)) return Written::kFailed;
  if (!segment_has_start_) {
    segment_has_start_ = true;
    segment_start_ts_ = t.pts;
    segment_source_start_ms_ = source_ms;
    grid_next_ms_ = align_to_source_ ? NextMultiple(source_ms, std::llround(segment_seconds_ * 1000)) : AV_NOPTS_VALUE;
    segment_starts_keyframe_ = cut_point;
    segment_discontinuity_ = next_discontinuity_;
    next_discontinuity_ = false;
    clock_.SegmentStarted();
    if (segments_ == 0 && recording_start_ts_ == 0) recording_start_ts_ = t.pts;
  }

  pkt->stream_index = stream.output_index;
  pkt->pts = t.pts;
  pkt->dts = t.dts;
  pkt->duration = t.duration;
  pkt->pos = -1;
  if (!writer_->Write(pkt, err)) return Written::kFailed;
  repair_.Written(t.pts + t.duration);
  return Written::kOk;
}

bool SegmentCutter::CutDue(int64_t pts, int64_t source_ms) {
  // The source's clock went back below the segment's start (the source restarted, or its clock wrapped):
  // its grid says nothing about this segment, which ends by its length; the next one starts a new grid.
  if (grid_next_ms_ != AV_NOPTS_VALUE && source_ms < segment_source_start_ms_) grid_next_ms_ = AV_NOPTS_VALUE;
  if (grid_next_ms_ != AV_NOPTS_VALUE) return source_ms >= grid_next_ms_;
  return Seconds(pts - segment_start_ts_) >= segment_seconds_;
}

bool SegmentCutter::Cut(bool last, WriteError* err) {
  ClosedSegment closed;
  if (!writer_->CloseSegment(last, &closed, err)) return false;
  TrimFreedHeapIfWanted(heap_trim_interval_ms_);
  // A cut before a packet ends the segment where that packet starts; the last one where media ends.
  int64_t end = !last && pending_cut_ts_ != AV_NOPTS_VALUE ? pending_cut_ts_ : repair_.end();
  double duration = std::max(0.0, Seconds(end - segment_start_ts_));
  recorded_seconds_ += duration;
  segments_++;
  // A cut before a packet ends where that packet starts on the source's clock too; any other end is
  // reckoned from the segment's length.
  const int64_t source_end_ms = !last && pending_cut_source_ms_ != AV_NOPTS_VALUE
                                    ? pending_cut_source_ms_
                                    : segment_source_start_ms_ + std::llround(duration * 1000);
  FinishedSegment finished{sequence_,
                           closed.path,
                           duration,
                           closed.bytes,
                           segment_start_ts_,
                           segment_starts_keyframe_,
                           segment_discontinuity_,
                           segment_source_start_ms_,
                           source_end_ms};
  // Only a cut while media flows waits for a better date: any other cut (a gap, silence, a rejoin, the
  // end) means the source's estimate will not get better soon.
  const bool flowing = !last && pending_cut_ts_ != AV_NOPTS_VALUE;
  if (flowing && clock_.Young()) {
    clock_.HoldSegment();
    held_.push_back(std::move(finished));
  } else {
    ReleaseHeld();
    Report(finished, clock_.SegmentDateMs(segment_start_ts_));
  }
  sequence_++;
  segment_has_start_ = false;
  return true;
}

void SegmentCutter::Report(const FinishedSegment& s, int64_t program_date_ms) {
  emit_(EventJson(events::kSegment)
            .integer("sequence", s.sequence)
            .str("path", s.path)
            .num("durationSeconds", s.duration)
            .integer("bytes", s.bytes)
            .num("startPtsSeconds", Seconds(s.start_ts))
            .boolean("startsWithKeyframe", s.starts_keyframe)
            .boolean("discontinuity", s.discontinuity)
            .integer("programDateTimeMs", program_date_ms)
            .integer("sourceStartMs", s.source_start_ms)
            .integer("sourceEndMs", s.source_end_ms)
            .done());
}

void SegmentCutter::ReleaseHeld() {
  for (const FinishedSegment& s : held_) Report(s, clock_.HeldDateMs(s.start_ts));
  held_.clear();
  clock_.ReleaseHeld();
}

void SegmentCutter::Abandon() {
  ReleaseHeld();
  if (writer_) writer_->Abandon();
}

}  // namespace recfleet
