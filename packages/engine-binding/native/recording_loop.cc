#include "recording_loop.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/mathematics.h>
}

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <thread>

#include "counters.h"
#include "event_json.h"
#include "segment_writer.h"
#include "memory_release.h"

namespace recfleet {

namespace {
constexpr AVRational kOutTb{1, 90000};

std::string AvErr(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE];
  av_strerror(err, buf, sizeof buf);
  return buf;
}

// Codecs the MPEG-TS muxer can carry by stream copy.
bool TsCanCarry(AVCodecID id) {
  switch (id) {
    case AV_CODEC_ID_H264:
    case AV_CODEC_ID_HEVC:
    case AV_CODEC_ID_MPEG2VIDEO:
    case AV_CODEC_ID_MPEG1VIDEO:
    case AV_CODEC_ID_MPEG4:
    case AV_CODEC_ID_AAC:
    case AV_CODEC_ID_AAC_LATM:
    case AV_CODEC_ID_MP2:
    case AV_CODEC_ID_MP3:
    case AV_CODEC_ID_AC3:
    case AV_CODEC_ID_EAC3:
    case AV_CODEC_ID_OPUS:
      return true;
    default:
      return false;
  }
}

int Channels(const AVCodecParameters* par) {
#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 28, 100)
  return par->ch_layout.nb_channels;
#else
  return par->channels;
#endif
}

std::string Signature(const AVCodecParameters* par) {
  char buf[160];
  snprintf(buf, sizeof buf, "%d:%d:%dx%d:%d:%d:%d", par->codec_type, par->codec_id, par->width, par->height,
           par->sample_rate, Channels(par), par->extradata_size);
  return buf;
}
}  // namespace

RecordingLoop::RecordingLoop(RecordingOptions options, EmitFn emit)
    : o_(std::move(options)),
      emit_(std::move(emit)),
      sequence_(o_.start_sequence),
      next_discontinuity_(o_.discontinuity) {}

RecordingLoop::~RecordingLoop() = default;

int64_t RecordingLoop::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool RecordingLoop::IdleExpired() const { return NowMs() - last_media_ms_ >= o_.max_idle_seconds * 1000; }

int RecordingLoop::InterruptCallback(void* opaque) {
  auto* self = static_cast<RecordingLoop*>(opaque);
  if (self->Stopping()) return 1;
  int64_t deadline = self->deadline_ms_.load();
  return deadline > 0 && self->NowMs() > deadline ? 1 : 0;
}

void RecordingLoop::RequestStop() { stop_.store(true); }
void RecordingLoop::RequestCancel() { cancel_.store(true); }

// Never sleeps past the idle limit: the idle exit should come on time, not one backoff later.
void RecordingLoop::SleepInterruptible(int ms) {
  int64_t idle_end = last_media_ms_ + static_cast<int64_t>(o_.max_idle_seconds * 1000);
  int64_t until = std::min<int64_t>(NowMs() + ms, idle_end);
  while (!Stopping() && NowMs() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

void RecordingLoop::Failure(const char* code, const std::string& message) {
  emit_(EventJson("recorder_failure")
            .str("code", code)
            .str("message", message)
            .integer("reconnects", reconnects_)
            .integer("corruptPackets", corrupt_packets_)
            .integer("droppedPackets", dropped_packets_)
            .done());
}

void RecordingLoop::Fatal(const std::string& code, const std::string& message) {
  if (finished_) return;
  finished_ = true;
  if (writer_) writer_->Abandon();
  final_event_ = EventJson("fatal_error").str("code", code).str("message", message).done();
}

void RecordingLoop::Finish(const char* reason) {
  if (finished_) return;
  if (cancel_.load()) {
    if (writer_) writer_->Abandon();
    reason = "cancelled";
  } else if (writer_ && writer_->segment_open()) {
    if (!CutSegment(true)) return;  // Fatal already emitted
  }
  finished_ = true;
  final_event_ = EventJson("stopped")
                     .str("reason", reason)
                     .integer("segments", segments_done_)
                     .num("durationSeconds", recorded_seconds_)
                     .done();
}

// Fails fast on a missing or read-only output directory instead of after the source has been joined
// (which may take up to maxIdleSeconds). A probe file is used because access(2) says yes to root even
// on a read-only mount.
bool RecordingLoop::CheckOutputDir() {
  std::string probe = o_.output_dir + "/." + o_.file_prefix + ".probe";
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    const char* code = e == ENOSPC || e == EDQUOT ? "DISK_FULL" : e == ENOMEM ? "OUT_OF_MEMORY" : "OUTPUT_NOT_WRITABLE";
    Fatal(code, "cannot write to the output directory " + o_.output_dir + ": " + std::strerror(e));
    return false;
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return true;
}

AVFormatContext* RecordingLoop::OpenSource(std::string* failure, int* averr) {
  AVFormatContext* ic = avformat_alloc_context();
  if (!ic) {
    *averr = AVERROR(ENOMEM);
    *failure = "out of memory";
    return nullptr;
  }
  ic->interrupt_callback.callback = &RecordingLoop::InterruptCallback;
  ic->interrupt_callback.opaque = this;
  AVDictionary* opts = nullptr;
  // Bounded probing keeps joins quick. FLV (RTMP) announces its streams as they come, so stream-info
  // probing would otherwise read the whole analyze duration of live media before recording starts.
  av_dict_set(&opts, "analyzeduration", o_.is_file ? "5000000" : "500000", 0);
  av_dict_set(&opts, "probesize", "1000000", 0);
  if (o_.source_url.rfind("rtsp:", 0) == 0) av_dict_set(&opts, "rtsp_transport", "tcp", 0);
  // Bounded by the idle limit too: a server that accepts and then says nothing (node-media-server
  // playing an unpublished stream) must not hold the recording past maxIdleSeconds.
  int64_t idle_left = static_cast<int64_t>(o_.max_idle_seconds * 1000) - (NowMs() - last_media_ms_);
  deadline_ms_.store(NowMs() + std::max<int64_t>(250, std::min<int64_t>(o_.connect_timeout_ms, idle_left)));
  int ret = avformat_open_input(&ic, o_.source_url.c_str(), nullptr, &opts);
  av_dict_free(&opts);
  if (ret < 0) {
    deadline_ms_.store(0);
    *averr = ret;
    *failure = "cannot open source: " + AvErr(ret);
    return nullptr;  // avformat_open_input frees ic on failure
  }
  emit_(EventJson("joined").boolean("rejoin", joined_once_).done());
  ReleaseZeroPages(ic->priv_data);  // the FLV demuxer's zero-filled resync buffer: see memory_release.cc
  ret = avformat_find_stream_info(ic, nullptr);
  deadline_ms_.store(0);
  TrimFreedHeap();  // the probe's decoder buffers: see memory_release.cc
  if (ret < 0) {
    *averr = ret;
    *failure = "cannot read stream info: " + AvErr(ret);
    avformat_close_input(&ic);
    return nullptr;
  }
  return ic;
}

bool RecordingLoop::SetupStreams(AVFormatContext* ic, std::vector<StreamMap>* map, std::string* code,
                                 std::string* message) {
  int v = o_.want_video ? av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0) : -1;
  int a = o_.want_audio ? av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0) : -1;
  if (v < 0 && a < 0) {
    *code = "NO_MEDIA";
    *message = "the source has no selected audio or video stream";
    return false;
  }
  std::vector<const AVCodecParameters*> params;
  std::vector<std::string> layout;
  std::string streams_json = "[";
  for (int idx : {v, a}) {
    if (idx < 0) continue;
    const AVCodecParameters* par = ic->streams[idx]->codecpar;
    if (!TsCanCarry(par->codec_id)) {
      *code = "UNSUPPORTED_CODEC";
      *message = std::string("codec ") + avcodec_get_name(par->codec_id) + " cannot be recorded to MPEG-TS";
      return false;
    }
    bool is_video = par->codec_type == AVMEDIA_TYPE_VIDEO;
    map->push_back(StreamMap{idx, static_cast<int>(params.size()), is_video});
    params.push_back(par);
    layout.push_back(Signature(par));
    if (streams_json.size() > 1) streams_json += ",";
    EventJson s("stream");
    s.integer("index", static_cast<int64_t>(params.size() - 1))
        .str("kind", is_video ? "video" : "audio")
        .str("codec", avcodec_get_name(par->codec_id));
    if (is_video) {
      s.integer("width", par->width).integer("height", par->height);
      AVRational fr = ic->streams[idx]->avg_frame_rate;
      if (fr.num > 0 && fr.den > 0) s.num("frameRate", av_q2d(fr));
    } else {
      s.integer("sampleRate", par->sample_rate).integer("channels", Channels(par));
    }
    streams_json += s.done();
  }
  streams_json += "]";
  have_video_ = v >= 0;

  if (writer_ && layout != layout_) {
    // The source changed codec or resolution: close the muxer and start a new one, flagged.
    if (writer_->segment_open() && !CutSegment(true)) return false;
    writer_.reset();
    next_discontinuity_ = true;
    Failure("STREAM_CHANGED", "the source's streams changed; continuing in a new segment");
  }
  if (!writer_) {
    writer_ = std::make_unique<SegmentWriter>(o_.output_dir, o_.file_prefix);
    WriteError err;
    if (!writer_->Init(params, &err)) {
      *code = err.code;
      *message = err.message;
      return false;
    }
    layout_ = layout;
    last_dts_.assign(params.size(), AV_NOPTS_VALUE);
    extradata_.clear();
    for (const AVCodecParameters* par : params) {
      extradata_.emplace_back(par->extradata, par->extradata + (par->extradata ? par->extradata_size : 0));
    }
  }
  if (!started_emitted_) {
    started_emitted_ = true;
    emit_(EventJson("started").raw("streams", streams_json).done());
  }
  return true;
}

bool RecordingLoop::CutSegment(bool last) {
  ClosedSegment closed;
  WriteError err;
  if (!writer_->CloseSegment(last, &closed, &err)) {
    Fatal(err.code, err.message);
    return false;
  }
  TrimFreedHeapIfWanted();
  double duration = std::max(0.0, static_cast<double>(max_end_ts_ - segment_start_ts_) / 90000.0);
  if (!last && pending_cut_ts_ != AV_NOPTS_VALUE) {
    duration = std::max(0.0, static_cast<double>(pending_cut_ts_ - segment_start_ts_) / 90000.0);
  }
  recorded_seconds_ += duration;
  segments_done_++;
  emit_(EventJson("segment")
            .integer("sequence", sequence_)
            .str("path", closed.path)
            .num("durationSeconds", duration)
            .integer("bytes", closed.bytes)
            .num("startPtsSeconds", static_cast<double>(segment_start_ts_) / 90000.0)
            .boolean("startsWithKeyframe", segment_starts_keyframe_)
            .boolean("discontinuity", segment_discontinuity_)
            .done());
  sequence_++;
  segment_has_start_ = false;
  return true;
}

bool RecordingLoop::WritePacket(AVPacket* pkt, const StreamMap& sm, AVFormatContext* ic) {
  AVStream* in = ic->streams[sm.input_index];
  int64_t pts = pkt->pts, dts = pkt->dts;
  if (dts == AV_NOPTS_VALUE) dts = pts;
  if (dts == AV_NOPTS_VALUE) {
    dropped_packets_++;
    Counters::packets_dropped++;
    return true;
  }
  if (pts == AV_NOPTS_VALUE) pts = dts;
  dts = av_rescale_q(dts, in->time_base, kOutTb);
  pts = av_rescale_q(pts, in->time_base, kOutTb);
  int64_t duration = pkt->duration > 0 ? av_rescale_q(pkt->duration, in->time_base, kOutTb) : 0;

  if (!offset_set_) {
    // First packet after a (re)join: continue right after what was written before, so the one muxer
    // never sees time go backwards (sources restart their clocks, node-media-server's GOP cache
    // starts at the publisher's clock). The first recording starts at 1 s to keep audio that slightly
    // precedes the keyframe non-negative.
    // After a rejoin a small gap keeps audio that precedes the new keyframe after the old audio.
    int64_t base = max_end_ts_ > 0 ? max_end_ts_ + 9000 : 90000;
    ts_offset_ = base - dts;
    offset_set_ = true;
  }
  dts += ts_offset_;
  pts += ts_offset_;

  // A source clock that jumps (a publisher restarted behind a relay that kept our session, an encoder
  // reset) would otherwise squash everything after it onto last + 1 or leave a long hole: continue the
  // timeline right after what was written, like the ffmpeg CLI does for discontinuous formats.
  int64_t& last = last_dts_[sm.output_index];
  constexpr int64_t kBackwardJump = 90000;       // 1 s
  constexpr int64_t kForwardJump = 10 * 90000;   // 10 s
  if ((last != AV_NOPTS_VALUE && dts < last - kBackwardJump) || (max_end_ts_ > 0 && dts > max_end_ts_ + kForwardJump)) {
    int64_t shift = max_end_ts_ + 9000 - dts;
    ts_offset_ += shift;
    dts += shift;
    pts += shift;
  }

  // Repair as the ffmpeg CLI does: strictly increasing DTS per stream, PTS never before DTS.

  if (last != AV_NOPTS_VALUE && dts <= last) dts = last + 1;
  if (pts < dts) pts = dts;
  last = dts;

  bool key = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
  bool cut_point = have_video_ ? (sm.is_video && key) : true;
  if (segment_has_start_ && cut_point) {
    double elapsed = static_cast<double>(pts - segment_start_ts_) / 90000.0;
    if (force_cut_ || elapsed >= o_.segment_seconds) {
      pending_cut_ts_ = pts;
      bool ok = CutSegment(false);
      pending_cut_ts_ = AV_NOPTS_VALUE;
      if (!ok) return false;
      force_cut_ = false;
    }
  }
  if (!writer_->segment_open()) {
    WriteError err;
    if (!writer_->OpenSegment(sequence_, &err)) {
      Fatal(err.code, err.message);
      return false;
    }
  }
  if (!segment_has_start_) {
    segment_has_start_ = true;
    segment_start_ts_ = pts;
    segment_starts_keyframe_ = have_video_ ? (sm.is_video && key) : true;
    segment_discontinuity_ = next_discontinuity_;
    next_discontinuity_ = false;
    if (segments_done_ == 0 && recording_start_ts_ == 0) recording_start_ts_ = pts;
  }

  pkt->stream_index = sm.output_index;
  pkt->pts = pts;
  pkt->dts = dts;
  pkt->duration = duration;
  pkt->pos = -1;
  int64_t end = pts + duration;
  WriteError err;
  if (!writer_->Write(pkt, &err)) {
    Fatal(err.code, err.message);
    return false;
  }
  if (end > max_end_ts_) max_end_ts_ = end;
  return true;
}

RecordingLoop::ReadOutcome RecordingLoop::ReadLoop(AVFormatContext* ic, const std::vector<StreamMap>& map) {
  AVPacket* pkt = av_packet_alloc();
  if (!pkt) {
    Fatal("OUT_OF_MEMORY", "cannot allocate a packet");
    return ReadOutcome::kFatal;
  }
  ReadOutcome outcome = ReadOutcome::kStop;
  for (;;) {
    if (Stopping()) {
      outcome = ReadOutcome::kStop;
      break;
    }
    int64_t idle_left = static_cast<int64_t>(o_.max_idle_seconds * 1000) - (NowMs() - last_media_ms_);
    deadline_ms_.store(NowMs() + std::max<int64_t>(1, std::min<int64_t>(o_.read_timeout_ms, idle_left)));
    int ret = av_read_frame(ic, pkt);
    deadline_ms_.store(0);
    if (ret == AVERROR(EAGAIN)) continue;
    if (ret < 0) {
      // A file that ends (or breaks) is the end of the recording; re-reading it would duplicate media.
      // A live source that ends (EOF; SRT reports a publisher's disconnect as EIO) or goes silent past
      // the read timeout is rejoined until maxIdleSeconds have passed without media.
      // An http(s) source that announced a duration (HLS VOD, a progressive file) has simply ended
      // as well; a live one (HLS live, HTTP-FLV) has none.
      bool finite_http = ret == AVERROR_EOF && ic->duration > 0 &&
                         (o_.source_url.rfind("http:", 0) == 0 || o_.source_url.rfind("https:", 0) == 0);
      if (Stopping()) outcome = ReadOutcome::kStop;
      else if (o_.is_file || finite_http) outcome = ReadOutcome::kSourceEnded;
      else if (IdleExpired()) outcome = ReadOutcome::kIdle;
      else outcome = ReadOutcome::kSourceLost;
      if (outcome == ReadOutcome::kSourceLost) {
        reconnects_++;
        Failure("SOURCE_LOST", "the source stopped (" + AvErr(ret) + "); reconnecting");
      }
      break;
    }
    const StreamMap* sm = nullptr;
    for (const auto& m : map) {
      if (m.input_index == pkt->stream_index) sm = &m;
    }
    if (!sm) {
      av_packet_unref(pkt);
      continue;
    }
    last_media_ms_ = NowMs();
    ever_received_ = true;
    if (pkt->flags & AV_PKT_FLAG_CORRUPT) {
      corrupt_packets_++;
      Counters::packets_dropped++;
      if (NowMs() - last_corrupt_report_ms_ > 5000) {
        last_corrupt_report_ms_ = NowMs();
        Failure("CORRUPT_PACKETS", "corrupt packets skipped");
      }
      // The frames after a skipped video packet reference it: they would decode to garbage.
      if (sm->is_video) video_needs_keyframe_ = true;
      av_packet_unref(pkt);
      continue;
    }
    if (video_needs_keyframe_ && sm->is_video) {
      if (!(pkt->flags & AV_PKT_FLAG_KEY)) {
        dropped_packets_++;
        Counters::packets_dropped++;
        av_packet_unref(pkt);
        continue;
      }
      video_needs_keyframe_ = false;
    }
    if (waiting_keyframe_) {
      // Every segment must start with a keyframe: drop everything before the first one.
      if (have_video_ && !(sm->is_video && (pkt->flags & AV_PKT_FLAG_KEY))) {
        dropped_packets_++;
        Counters::packets_dropped++;
        av_packet_unref(pkt);
        continue;
      }
      waiting_keyframe_ = false;
    }
    if (ExtradataChanged(pkt, *sm)) {
      // New codec configuration in-band: node-media-server keeps a player's session when the publisher
      // restarts, possibly at another resolution, and just sends new sequence headers. FFmpeg 5.1's
      // h264_mp4toannexb ignores new extradata (the new SPS/PPS would never reach the files), so the
      // muxer and its bitstream filter are rebuilt with the new configuration, in a new segment that
      // is flagged as a discontinuity.
      bool output_started = segments_done_ > 0 || writer_->segment_open();
      if (!RebuildMuxer(ic, map)) {
        av_packet_unref(pkt);
        outcome = ReadOutcome::kFatal;
        break;
      }
      if (output_started) {
        next_discontinuity_ = true;
        Failure("STREAM_CHANGED", "the source's codec configuration changed; continuing in a new segment");
      }
      if (have_video_ && !(sm->is_video && (pkt->flags & AV_PKT_FLAG_KEY))) {
        waiting_keyframe_ = true;
        dropped_packets_++;
        Counters::packets_dropped++;
        av_packet_unref(pkt);
        continue;
      }
    }
    bool ok = WritePacket(pkt, *sm, ic);
    av_packet_unref(pkt);
    if (!ok) {
      outcome = ReadOutcome::kFatal;
      break;
    }
    if (o_.max_duration_seconds > 0 &&
        static_cast<double>(max_end_ts_ - recording_start_ts_) / 90000.0 >= o_.max_duration_seconds) {
      outcome = ReadOutcome::kMaxDuration;
      break;
    }
  }
  av_packet_free(&pkt);
  return outcome;
}

void RecordingLoop::Run() {
  Counters::active_recorders++;
  Counters::threads++;
  // Nothing may unwind out of the thread (std::terminate would take the whole worker down).
  try {
    RunLoop();
  } catch (const std::bad_alloc&) {
    Fatal("OUT_OF_MEMORY", "out of memory");
  } catch (const std::exception& e) {
    Fatal("INTERNAL", std::string("recorder thread failed: ") + e.what());
  } catch (...) {
    Fatal("INTERNAL", "recorder thread failed");
  }
  if (final_event_.empty()) Fatal("INTERNAL", "recorder thread ended without a final state");
  writer_.reset();
  Counters::active_recorders--;
  Counters::threads--;
  emit_(final_event_);
}

void RecordingLoop::RunLoop() {
  last_media_ms_ = NowMs();
  if (!CheckOutputDir()) return;
  int backoff_ms = 250;
  for (;;) {
    if (Stopping()) {
      Finish("requested");
      break;
    }
    if (IdleExpired()) {
      Finish("idle_timeout");
      break;
    }
    std::string failure;
    int averr = 0;
    AVFormatContext* ic = OpenSource(&failure, &averr);
    if (!ic) {
      if (Stopping()) {
        Finish("requested");
        break;
      }
      if (averr == AVERROR_PROTOCOL_NOT_FOUND) {
        Fatal("INVALID_URL", "unsupported source URL: " + failure);
        break;
      }
      if (averr == AVERROR(ENOMEM)) {
        Fatal("OUT_OF_MEMORY", failure);
        break;
      }
      if (o_.is_file) {
        Fatal(averr == AVERROR_INVALIDDATA ? "NO_MEDIA" : "SOURCE_UNREACHABLE", failure);
        break;
      }
      if (averr == AVERROR(EINVAL) && !ever_received_) {
        Fatal("INVALID_URL", "the source URL was refused: " + failure);
        break;
      }
      if (IdleExpired()) {
        Finish("idle_timeout");
        break;
      }
      reconnects_++;
      // Reported on the first failure and then every tenth, not at every 2 s retry.
      if (reconnects_ == 1 || reconnects_ % 10 == 0) {
        Failure(ever_received_ ? "SOURCE_LOST" : "SOURCE_UNREACHABLE", failure + "; retrying");
      }
      SleepInterruptible(backoff_ms);
      backoff_ms = std::min(backoff_ms * 2, 2000);
      continue;
    }
    std::string code, message;
    std::vector<StreamMap> map;
    if (!SetupStreams(ic, &map, &code, &message)) {
      avformat_close_input(&ic);
      if (!finished_) Fatal(code, message);
      break;
    }
    backoff_ms = 250;
    if (joined_once_) {
      // Back after the source left: the next segment starts at the next keyframe, flagged.
      if (writer_->segment_open()) force_cut_ = true;
      next_discontinuity_ = true;
      waiting_keyframe_ = true;
      offset_set_ = false;
    }
    joined_once_ = true;
    ReadOutcome outcome = ReadLoop(ic, map);
    avformat_close_input(&ic);
    if (outcome == ReadOutcome::kFatal) break;
    if (outcome == ReadOutcome::kStop) {
      Finish("requested");
      break;
    }
    if (outcome == ReadOutcome::kSourceEnded) {
      Finish("source_ended");
      break;
    }
    if (outcome == ReadOutcome::kMaxDuration) {
      Finish("max_duration");
      break;
    }
    if (outcome == ReadOutcome::kIdle) {
      Finish("idle_timeout");
      break;
    }
    // kSourceLost: close the segment we have (so it is delivered while we wait), then rejoin.
    if (writer_ && writer_->segment_open() && !CutSegment(false)) break;
    SleepInterruptible(backoff_ms);
  }
}

bool RecordingLoop::ExtradataChanged(const AVPacket* pkt, const StreamMap& sm) {
  size_t size = 0;
#if LIBAVCODEC_VERSION_MAJOR >= 59
  const uint8_t* data = av_packet_get_side_data(pkt, AV_PKT_DATA_NEW_EXTRADATA, &size);
#else
  int isize = 0;
  const uint8_t* data = av_packet_get_side_data(pkt, AV_PKT_DATA_NEW_EXTRADATA, &isize);
  size = isize > 0 ? static_cast<size_t>(isize) : 0;
#endif
  if (!data || size == 0) return false;
  std::vector<uint8_t>& current = extradata_[sm.output_index];
  if (current.size() == size && std::memcmp(current.data(), data, size) == 0) return false;
  current.assign(data, data + size);
  return true;
}

// Closes the current segment with the old configuration and starts a muxer with the input's current
// parameters and the newest extradata of each stream. Timestamps carry on (last_dts_, max_end_ts_).
bool RecordingLoop::RebuildMuxer(AVFormatContext* ic, const std::vector<StreamMap>& map) {
  if (writer_->segment_open() && !CutSegment(true)) return false;
  std::vector<AVCodecParameters*> owned;
  std::vector<const AVCodecParameters*> params(map.size(), nullptr);
  bool ok = true;
  for (const StreamMap& m : map) {
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
  WriteError err{"OUT_OF_MEMORY", "cannot copy the stream parameters"};
  if (ok) {
    writer_ = std::make_unique<SegmentWriter>(o_.output_dir, o_.file_prefix);
    ok = writer_->Init(params, &err);
  }
  for (AVCodecParameters* par : owned) avcodec_parameters_free(&par);
  if (!ok) Fatal(err.code, err.message);
  return ok;
}

}  // namespace recfleet
