#include "recording_loop.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
}

#include <fcntl.h>
#include <netdb.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <new>

#include "counters.h"
#include "generated/vocabulary.h"
#include "memory_release.h"
#include "rtmp_flv_input.h"
#include "udp_ts_input.h"

namespace recfleet {

namespace {
// A source quiet this long will not improve a held segment's date soon: it is reported with the estimate
// it has (a pause, or a read about to time out), rather than waiting for media or the read timeout.
constexpr int64_t kReleaseHeldAfterQuietMs = 1000;

std::string AvErr(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE];
  av_strerror(err, buf, sizeof buf);
  return buf;
}
}  // namespace

RecordingLoop::RecordingLoop(RecordingOptions options, EmitFn emit)
    : o_(std::move(options)),
      emit_(std::move(emit)),
      // Without it (no file descriptor left) a stop is still seen, one poll interval later.
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      supervisor_(o_.reconnect, o_.is_file),
      reporter_(o_.reports, emit_),
      cutter_(o_, emit_) {}

RecordingLoop::~RecordingLoop() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

int64_t RecordingLoop::NowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The program dates' clock: the wall clock the publisher's dates are on, not the monotonic one used
// for timeouts.
int64_t RecordingLoop::WallClockUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Media that has an end: a file, or a source that announced its duration where that means it is stored
// (HLS VOD, a progressive download). It is read as fast as it comes, not as it was published.
bool RecordingLoop::StoredMedia(const AVFormatContext* ic) const {
  return o_.is_file || (o_.ends_at_known_duration && ic->duration > 0);
}

bool RecordingLoop::IdleExpired() const { return NowMs() - last_media_ms_ >= o_.max_idle_seconds * 1000; }

int64_t RecordingLoop::IdleLeftMs() const {
  return static_cast<int64_t>(o_.max_idle_seconds * 1000) - (NowMs() - last_media_ms_);
}

int RecordingLoop::InterruptCallback(void* opaque) {
  auto* self = static_cast<RecordingLoop*>(opaque);
  if (self->Stopping()) return 1;
  if (self->CutOnSilence()) return 1;
  int64_t deadline = self->deadline_ms_.load();
  return deadline > 0 && self->NowMs() > deadline ? 1 : 0;
}

void RecordingLoop::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    stop_.store(true);
  }
  Wake();
}

void RecordingLoop::RequestCancel() {
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    cancel_.store(true);
  }
  Wake();
}

void RecordingLoop::Wake() {
  wake_.notify_all();
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    ssize_t ignored = ::write(wake_fd_, &one, sizeof one);  // only fails when the counter is full
    (void)ignored;
  }
}

// Never sleeps past the idle limit: the idle exit should come on time, not one backoff later.
void RecordingLoop::SleepInterruptible(int64_t ms) {
  int64_t idle_end = last_media_ms_ + static_cast<int64_t>(o_.max_idle_seconds * 1000);
  int64_t until = std::min<int64_t>(NowMs() + ms, idle_end);
  std::unique_lock<std::mutex> lock(wake_mutex_);
  wake_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(0, until - NowMs())),
                 [this] { return Stopping(); });
}

void RecordingLoop::Fatal(const char* code, const std::string& message) {
  if (finished_) return;
  finished_ = true;
  cutter_.Abandon();
  final_event_ = EventJson(events::kFatalError).str("code", code).str("message", message).done();
}

void RecordingLoop::Finish(const char* reason) {
  if (finished_) return;
  if (cancel_.load()) {
    cutter_.Abandon();
    reason = stop_reasons::kCancelled;
  } else if (cutter_.segment_open()) {
    WriteError err;
    if (!cutter_.Cut(true, &err)) {
      Fatal(err);
      return;
    }
  }
  cutter_.ReleaseHeld();  // the `stopped` event comes after every segment it counts
  finished_ = true;
  final_event_ = EventJson(events::kStopped)
                     .str("reason", reason)
                     .integer("segments", cutter_.segments())
                     .num("durationSeconds", cutter_.recorded_seconds())
                     .boolean("sourceReached", source_reached_)
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
    Fatal(ErrnoCode(e), "cannot write to the output directory " + o_.output_dir + ": " + std::strerror(e));
    return false;
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return true;
}

// Whether a failed attempt reached the source: the engine's RTMP client knows whether it connected;
// otherwise the error says when it is one of the connection's own (refused, no route, timed out) —
// anything else (a server that answered and closed, refused a play, sent nothing) had reached it.
bool RecordingLoop::ReachedSource(int averr) const {
  if (input_ && o_.read.reader == SourceReader::kRtmp) return input_->reached();
  if (o_.unanswered_open_unreached && (averr == AVERROR_EXIT || averr == AVERROR(EIO))) return false;
  switch (averr) {
    case AVERROR(ECONNREFUSED):
    case AVERROR(EHOSTUNREACH):
    case AVERROR(ENETUNREACH):
    case AVERROR(EHOSTDOWN):
    case AVERROR(ENETDOWN):
    case AVERROR(ETIMEDOUT):
    case AVERROR(EADDRNOTAVAIL):
      return false;
    default:
      return true;
  }
}

AVFormatContext* RecordingLoop::OpenSource(std::string* failure, int* averr, bool* reached) {
  *reached = false;
  if (!o_.resolve_host.empty()) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    addrinfo* found = nullptr;
    int r = getaddrinfo(o_.resolve_host.c_str(), nullptr, &hints, &found);
    if (found) freeaddrinfo(found);
    if (r != 0) {
      *averr = AVERROR(EHOSTUNREACH);
      *failure = "cannot open source: cannot resolve " + o_.resolve_host + " (" + gai_strerror(r) + ")";
      return nullptr;
    }
  }
  AVFormatContext* ic = avformat_alloc_context();
  if (!ic) {
    *averr = AVERROR(ENOMEM);
    *failure = "out of memory";
    return nullptr;
  }
  ic->interrupt_callback.callback = &RecordingLoop::InterruptCallback;
  ic->interrupt_callback.opaque = this;
  AVDictionary* opts = nullptr;
  for (const auto& [key, value] : o_.input_options) av_dict_set(&opts, key.c_str(), value.c_str(), 0);
  // Bounded by the idle limit too: a server that accepts and then says nothing (node-media-server
  // playing an unpublished stream) must not hold the recording past maxIdleSeconds.
  deadline_ms_.store(NowMs() + std::max<int64_t>(o_.min_connect_attempt_ms,
                                                 std::min<int64_t>(o_.connect_timeout_ms, IdleLeftMs())));
  int ret = 0;
  std::string detail;
  // One of the engine's own readers joins the source; the demuxer reads its stream through ic->pb, so
  // probing and everything after it is the same as behind libavformat's own protocol.
  if (o_.read.reader == SourceReader::kRtmp) {
    input_ = std::make_unique<RtmpFlvInput>(o_.read, ic->interrupt_callback, wake_fd_);
  } else if (o_.read.reader == SourceReader::kUdp || o_.read.reader == SourceReader::kRtp) {
    input_ = std::make_unique<UdpTsInput>(o_.read, ic->interrupt_callback, wake_fd_,
                                          o_.read.reader == SourceReader::kRtp);
  }
  if (input_) {
    ret = input_->Open(o_.source_url, &detail);
    if (ret == kReadWithLibavformat) {
      input_.reset();  // its sockets closed, so that libavformat can bind the same ports
      ret = 0;
    } else if (ret < 0) {
      avformat_free_context(ic);
    } else {
      ic->pb = input_->avio();
    }
  }
  if (ret >= 0) ret = avformat_open_input(&ic, o_.source_url.c_str(), nullptr, &opts);
  av_dict_free(&opts);
  if (ret < 0) {
    deadline_ms_.store(0);
    *reached = ReachedSource(ret);
    input_.reset();
    *averr = ret;
    *failure = "cannot open source: " + AvErr(ret) + (detail.empty() ? "" : " (" + detail + ")");
    return nullptr;  // avformat_open_input frees ic on failure
  }
  *reached = true;
  opened_ms_ = NowMs();
  emit_(EventJson(events::kJoined).boolean("rejoin", supervisor_.joined_before()).done());
  ReleaseZeroPages(ic->priv_data);  // the FLV demuxer's zero-filled resync buffer: see memory_release.cc
  ret = avformat_find_stream_info(ic, nullptr);
  deadline_ms_.store(0);
  TrimFreedHeap(o_.heap_trim_interval_ms);  // the probe's decoder buffers: see memory_release.cc
  if (ret < 0) {
    *averr = ret;
    *failure = "cannot read stream info: " + AvErr(ret);
    CloseSource(&ic);
    return nullptr;
  }
  return ic;
}

// The format context first: it reads through input_'s AVIOContext until it is closed.
void RecordingLoop::CloseSource(AVFormatContext** ic) {
  avformat_close_input(ic);
  input_.reset();
}

bool RecordingLoop::SetupStreams(AVFormatContext* ic, StreamSelection* selection) {
  const char* code = nullptr;
  std::string message;
  if (!SelectStreams(ic, o_.want_audio, o_.want_video, selection, &code, &message)) {
    Fatal(code, message);
    return false;
  }
  bool replaced = false;
  WriteError err;
  cutter_.SetStoredMedia(StoredMedia(ic));
  bool ok = cutter_.Configure(*selection, &replaced, &err);
  if (replaced) {
    reporter_.StreamChanged("the source's streams changed; continuing in a new segment", selection->streams_json);
  }
  if (!ok) {
    Fatal(err);
    return false;
  }
  if (!started_emitted_) {
    started_emitted_ = true;
    emit_(EventJson(events::kStarted).raw("streams", selection->streams_json).done());
  }
  return true;
}

ReadOutcome RecordingLoop::ReadLoop(AVFormatContext* ic, const StreamSelection& selection) {
  AVPacket* pkt = av_packet_alloc();
  if (!pkt) {
    Fatal(fatal_codes::kOutOfMemory, "cannot allocate a packet");
    return ReadOutcome::kFatal;
  }
  std::optional<ReadOutcome> outcome;
  while (!outcome) {
    outcome = ReadPacket(ic, selection, pkt);
    av_packet_unref(pkt);
  }
  av_packet_free(&pkt);
  return *outcome;
}

// Reads one packet and writes it if it may be written; returns how reading ended, or nothing to go on.
std::optional<ReadOutcome> RecordingLoop::ReadPacket(AVFormatContext* ic, const StreamSelection& selection,
                                                     AVPacket* pkt) {
  if (Stopping()) return ReadOutcome::kStop;
  // At least 1 ms: a deadline of 0 would mean none.
  deadline_ms_.store(NowMs() + std::max<int64_t>(1, std::min<int64_t>(o_.read_timeout_ms, IdleLeftMs())));
  int ret = av_read_frame(ic, pkt);
  const int64_t arrival_us = WallClockUs();
  deadline_ms_.store(0);
  if (finished_) return ReadOutcome::kFatal;  // CutOnSilence failed
  if (ret == AVERROR(EAGAIN)) return std::nullopt;
  if (ret < 0) return SourceStopped(ic, ret);
  const StreamMap* stream = selection.Find(pkt->stream_index);
  if (!stream) return std::nullopt;
  const int64_t now_ms = NowMs();
  // After a rejoin the first packets were read while probing the streams, up to a probe's length
  // before av_read_frame hands them over: the media came back when the source opened.
  const int64_t silence_ms = (rejoined_ ? std::min(now_ms, opened_ms_) : now_ms) - last_media_ms_;
  last_media_ms_ = now_ms;
  if (ever_received_ && o_.gap_seconds > 0 && silence_ms >= o_.gap_seconds * 1000 && !SourceGap(silence_ms)) {
    return ReadOutcome::kFatal;
  }
  ever_received_ = true;
  rejoined_ = false;
  const bool key = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
  if (pkt->flags & AV_PKT_FLAG_CORRUPT) {
    reporter_.CorruptPacket(NowMs());
    gate_.Skipped(stream->is_video);
    return std::nullopt;
  }
  if (!gate_.Admit(stream->is_video, key, selection.have_video)) {
    reporter_.DroppedPacket();
    return std::nullopt;
  }
  WriteError err;
  if (cutter_.ExtradataChanged(pkt, stream->output_index)) {
    // New codec configuration in-band: node-media-server keeps a player's session when the publisher
    // restarts, possibly at another resolution, and just sends new sequence headers. FFmpeg 5.1's
    // h264_mp4toannexb ignores new extradata (the new SPS/PPS would never reach the files), so the
    // muxer and its bitstream filter are rebuilt with the new configuration, in a new segment that
    // is flagged as a discontinuity.
    const bool output_started = cutter_.output_started();
    RefreshPictureSize(ic->streams[stream->input_index], pkt);
    if (!cutter_.Rebuild(ic, selection, &err)) {
      Fatal(err);
      return ReadOutcome::kFatal;
    }
    if (output_started) {
      cutter_.FlagNextSegment();
      reporter_.StreamChanged("the source's codec configuration changed; continuing in a new segment",
                              StreamsJson(ic, selection));
    }
    gate_.Restart();
    if (!gate_.Admit(stream->is_video, key, selection.have_video)) {
      reporter_.DroppedPacket();
      return std::nullopt;
    }
  }
  AVRational time_base = ic->streams[stream->input_index]->time_base;
  switch (cutter_.Write(pkt, time_base, *stream, selection.have_video, arrival_us, &err)) {
    case SegmentCutter::Written::kFailed:
      Fatal(err);
      return ReadOutcome::kFatal;
    case SegmentCutter::Written::kNoTimestamp:
      reporter_.DroppedPacket();
      break;
    case SegmentCutter::Written::kOk:
      break;
  }
  if (o_.max_duration_seconds > 0 && cutter_.span_seconds() >= o_.max_duration_seconds) {
    return ReadOutcome::kMaxDuration;
  }
  return std::nullopt;
}

// node-media-server keeps a player connected while its publisher is away and goes on with the next
// publisher's packets, their timestamps stitched onto the old ones: only the arrival clock shows the
// hole. A rejoin after that long is the same hole. Either way the media before it and after it must not
// be spliced: the segment ends, the next is a discontinuity, and the timeline jumps by the silence, so
// media time never runs ahead of what was received and the program dates stay true.
bool RecordingLoop::SourceGap(int64_t silence_ms) {
  WriteError err;
  if (!cutter_.Gap(silence_ms * TimestampRepair::kTimeBase.den / 1000, &err)) {
    Fatal(err);
    return false;
  }
  gate_.Restart();
  reporter_.SourceGap(static_cast<double>(silence_ms) / 1000, rejoined_);
  return true;
}

// A silent source keeps av_read_frame waiting (up to the read timeout, or for good on node-media-server),
// and with it the open segment, although all of its media is in: the demuxer's wait asks the interrupt
// callback every poll interval, on this thread, with no packet half written, so the segment is finished
// there. SourceGap, once media returns, flags the next one and moves the timeline on.
bool RecordingLoop::CutOnSilence() {
  // libavformat may ask from a thread of its own (its UDP receiver): nothing of the loop is touched there.
  if (std::this_thread::get_id() != thread_) return false;
  if (finished_) return true;
  const int64_t silence_ms = NowMs() - last_media_ms_;
  // Segments held for their program dates (ProgramClock): no better estimate comes while the source is
  // quiet, and they are finished.
  if (cutter_.holding() && silence_ms >= kReleaseHeldAfterQuietMs) cutter_.ReleaseHeld();
  if (o_.gap_seconds <= 0 || cutting_on_silence_ || !cutter_.segment_open()) return false;
  if (silence_ms < o_.gap_seconds * 1000) return false;
  cutting_on_silence_ = true;
  WriteError err;
  if (!cutter_.Cut(false, &err)) Fatal(err);
  cutting_on_silence_ = false;
  return finished_;
}

// A file that ends (or breaks) is the end of the recording; re-reading it would duplicate media. So is
// the end of a source that announced its duration where the options say that means an end (HLS VOD, a
// progressive file over http). A live source that ends (EOF; SRT reports a publisher's disconnect as EIO)
// or goes silent past the read timeout is rejoined until maxIdleSeconds have passed without media.
ReadOutcome RecordingLoop::SourceStopped(const AVFormatContext* ic, int averr) {
  const bool ended = o_.is_file || (averr == AVERROR_EOF && StoredMedia(ic));
  if (Stopping()) return ReadOutcome::kStop;
  if (ended) return ReadOutcome::kSourceEnded;
  if (IdleExpired()) return ReadOutcome::kIdle;
  reporter_.SourceLost(AvErr(averr));
  return ReadOutcome::kSourceLost;
}

void RecordingLoop::Run() {
  Counters::active_recorders++;
  Counters::threads++;
  // Nothing may unwind out of the thread (std::terminate would take the whole worker down).
  try {
    RunLoop();
  } catch (const std::bad_alloc&) {
    Fatal(fatal_codes::kOutOfMemory, "out of memory");
  } catch (const std::exception& e) {
    Fatal(fatal_codes::kInternal, std::string("recorder thread failed: ") + e.what());
  } catch (...) {
    Fatal(fatal_codes::kInternal, "recorder thread failed");
  }
  if (final_event_.empty()) Fatal(fatal_codes::kInternal, "recorder thread ended without a final state");
  cutter_.Close();
  Counters::active_recorders--;
  Counters::threads--;
  emit_(final_event_);
}

// The supervisor's loop: join, read until the source goes away, and join again, until the recording ends.
void RecordingLoop::RunLoop() {
  thread_ = std::this_thread::get_id();
  last_media_ms_ = NowMs();
  if (!CheckOutputDir()) return;
  for (;;) {
    if (Stopping()) {
      Finish(stop_reasons::kRequested);
      return;
    }
    if (IdleExpired()) {
      Finish(stop_reasons::kIdleTimeout);
      return;
    }
    std::string failure;
    int averr = 0;
    bool reached = false;
    AVFormatContext* ic = OpenSource(&failure, &averr, &reached);
    source_reached_ = source_reached_ || reached;
    if (finished_) {  // CutOnSilence failed while the source was being opened
      if (ic) CloseSource(&ic);
      return;
    }
    if (!ic) {
      if (Stopping()) {
        Finish(stop_reasons::kRequested);
        return;
      }
      ReconnectSupervisor::OpenVerdict verdict = supervisor_.OnOpenFailed(averr, failure, ever_received_);
      if (verdict.fatal_code) {
        Fatal(verdict.fatal_code, verdict.message);
        return;
      }
      if (IdleExpired()) {
        Finish(stop_reasons::kIdleTimeout);
        return;
      }
      reporter_.OpenFailed(ever_received_, failure, reached);
      SleepInterruptible(supervisor_.delay_ms());
      supervisor_.Backoff();
      continue;
    }
    StreamSelection selection;
    ReadOutcome outcome = ReadOutcome::kFatal;  // SetupStreams has recorded why
    if (SetupStreams(ic, &selection)) {
      if (supervisor_.Joined()) {
        // Back after the source left: the next segment starts at the next keyframe, flagged.
        cutter_.Rejoined();
        gate_.Restart();
        rejoined_ = true;
      }
      outcome = ReadLoop(ic, selection);
    }
    CloseSource(&ic);
    const ReadOutcomeRule& rule = RuleFor(outcome);
    if (rule.next == AfterRead::kFinish) Finish(rule.stop_reason);
    if (rule.next != AfterRead::kRejoin) return;
    // Close the segment we have (so it is delivered while we wait), then rejoin.
    WriteError err;
    if (cutter_.segment_open() && !cutter_.Cut(false, &err)) {
      Fatal(err);
      return;
    }
    cutter_.ReleaseHeld();
    SleepInterruptible(supervisor_.delay_ms());
  }
}

}  // namespace recfleet
