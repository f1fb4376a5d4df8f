// The media side of one recording: runs on its own thread, joins the source with libavformat (again
// when it is lost, as ReconnectSupervisor decides), reads its packets, and hands them to SegmentCutter.
// What happened goes out as JSON events through `emit`; it never touches a JavaScript value. Policy
// (option checking, defaults, naming) lives in TypeScript: every value used here came in with the options.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "event_json.h"
#include "failure_reporter.h"
#include "keyframe_gate.h"
#include "read_outcome.h"
#include "reconnect_supervisor.h"
#include "recording_options.h"
#include "source_input.h"
#include "segment_cutter.h"
#include "stream_selection.h"

struct AVFormatContext;
struct AVPacket;

namespace recfleet {

class RecordingLoop {
 public:
  RecordingLoop(RecordingOptions options, EmitFn emit);
  ~RecordingLoop();
  // The thread body; emits exactly one final `stopped` or `fatal_error`, last, and never throws.
  void Run();
  void RequestStop();    // finalize the current segment, then stop
  void RequestCancel();  // abandon the current segment, then stop
  static int InterruptCallback(void* opaque);

 private:
  void RunLoop();
  void Wake();
  bool CheckOutputDir();
  bool Stopping() const { return stop_.load() || cancel_.load(); }
  int64_t NowMs() const;
  static int64_t WallClockUs();
  bool StoredMedia(const AVFormatContext* ic) const;
  bool IdleExpired() const;
  int64_t IdleLeftMs() const;
  void SleepInterruptible(int64_t ms);
  // `*reached`: whether the attempt got to the source at all (see ReachedSource), also on success.
  AVFormatContext* OpenSource(std::string* failure, int* averr, bool* reached);
  bool ReachedSource(int averr) const;
  // A selected packet came after `silence_ms` without one: false when cutting at the gap failed (fatal).
  bool SourceGap(int64_t silence_ms);
  // From InterruptCallback: the open segment ends once the source has been silent for gapSeconds. True
  // when the recording is over (the cut failed): the wait is to be interrupted.
  bool CutOnSilence();
  void CloseSource(AVFormatContext** ic);
  bool SetupStreams(AVFormatContext* ic, StreamSelection* selection);
  ReadOutcome ReadLoop(AVFormatContext* ic, const StreamSelection& selection);
  std::optional<ReadOutcome> ReadPacket(AVFormatContext* ic, const StreamSelection& selection, AVPacket* pkt);
  ReadOutcome SourceStopped(const AVFormatContext* ic, int averr);
  void Fatal(const char* code, const std::string& message);
  void Fatal(const WriteError& err) { Fatal(err.code, err.message); }
  void Finish(const char* reason);

  const RecordingOptions o_;
  EmitFn emit_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> cancel_{false};
  std::atomic<int64_t> deadline_ms_{0};  // for InterruptCallback; 0: none
  std::mutex wake_mutex_;
  std::condition_variable wake_;  // ends a backoff wait at stop or cancel
  int wake_fd_ = -1;               // an eventfd, readable from stop or cancel on: ends a socket wait

  ReconnectSupervisor supervisor_;
  FailureReporter reporter_;
  SegmentCutter cutter_;
  // The engine's own reader of the open source, when the options chose one.
  std::unique_ptr<SourceInput> input_;
  KeyframeGate gate_;
  int64_t last_media_ms_ = 0;
  bool ever_received_ = false;
  bool rejoined_ = false;        // the source was joined again and no media has come since
  int64_t opened_ms_ = 0;        // when the source was last opened (its first bytes had come)
  std::thread::id thread_;       // the recording thread: only it may cut (CutOnSilence)
  bool cutting_on_silence_ = false;
  bool source_reached_ = false;  // some attempt to open the source reached it (the `stopped` event says)
  bool started_emitted_ = false;
  bool finished_ = false;
  std::string final_event_;  // posted after the counters are updated, as the very last event
};

}  // namespace recfleet
