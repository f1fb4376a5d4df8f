// The media side of one recording: runs on its own thread, pulls the source with libavformat, cuts
// segments with SegmentWriter, and reports what happened as JSON events through `emit`. It never
// touches a JavaScript value. Policy (option checking, defaults, naming) lives in TypeScript.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

struct AVFormatContext;
struct AVPacket;

namespace recfleet {

class SegmentWriter;

struct RecordingOptions {
  std::string recording_id;
  std::string source_url;
  std::string output_dir;
  std::string file_prefix;
  double segment_seconds = 10;
  double max_idle_seconds = 30;
  bool want_audio = true;
  bool want_video = true;
  double max_duration_seconds = 0;  // 0: none
  int64_t start_sequence = 0;
  bool discontinuity = false;
  int connect_timeout_ms = 10000;
  int read_timeout_ms = 10000;
  bool is_file = false;
};

using EmitFn = std::function<void(std::string json)>;

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
  enum class ReadOutcome { kStop, kSourceLost, kSourceEnded, kIdle, kMaxDuration, kFatal };
  struct StreamMap {
    int input_index;
    int output_index;
    bool is_video;
  };

  void RunLoop();
  bool CheckOutputDir();
  bool Stopping() const { return stop_.load() || cancel_.load(); }
  int64_t NowMs() const;
  bool IdleExpired() const;
  void SleepInterruptible(int ms);
  AVFormatContext* OpenSource(std::string* failure, int* averr);
  bool SetupStreams(AVFormatContext* ic, std::vector<StreamMap>* map, std::string* code, std::string* message);
  ReadOutcome ReadLoop(AVFormatContext* ic, const std::vector<StreamMap>& map);
  bool WritePacket(AVPacket* pkt, const StreamMap& sm, AVFormatContext* ic);
  bool ExtradataChanged(const AVPacket* pkt, const StreamMap& sm);
  bool RebuildMuxer(AVFormatContext* ic, const std::vector<StreamMap>& map);
  bool CutSegment(bool last);
  void Fatal(const std::string& code, const std::string& message);
  void Failure(const char* code, const std::string& message);
  void Finish(const char* reason);

  RecordingOptions o_;
  EmitFn emit_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> cancel_{false};
  std::atomic<int64_t> deadline_ms_{0};

  std::unique_ptr<SegmentWriter> writer_;
  std::vector<std::string> layout_;  // codec signature of the muxer's streams
  int64_t sequence_;
  bool next_discontinuity_;
  bool force_cut_ = false;
  bool waiting_keyframe_ = true;
  bool video_needs_keyframe_ = false;  // a video packet was skipped: what follows it cannot be decoded
  bool have_video_ = false;
  bool started_emitted_ = false;
  bool ever_received_ = false;
  bool joined_once_ = false;
  int64_t last_media_ms_ = 0;
  int64_t segment_start_ts_ = 0;  // 90 kHz
  int64_t recording_start_ts_ = 0;
  bool segment_has_start_ = false;
  bool segment_starts_keyframe_ = false;
  bool segment_discontinuity_ = false;
  int64_t pending_cut_ts_ = INT64_MIN;
  int64_t max_end_ts_ = 0;  // 90 kHz, max pts+duration written
  int64_t ts_offset_ = 0;   // added to every input timestamp (90 kHz) to keep output monotonic
  bool offset_set_ = false;
  std::vector<int64_t> last_dts_;
  int64_t segments_done_ = 0;
  double recorded_seconds_ = 0;
  int64_t reconnects_ = 0;
  int64_t corrupt_packets_ = 0;
  int64_t dropped_packets_ = 0;
  int64_t last_corrupt_report_ms_ = 0;
  std::vector<std::vector<uint8_t>> extradata_;  // per output stream, to notice in-band changes
  bool finished_ = false;
  std::string final_event_;  // posted after the counters are updated, as the very last event
};

}  // namespace recfleet
