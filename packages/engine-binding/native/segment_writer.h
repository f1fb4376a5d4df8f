// One continuous MPEG-TS muxer for a whole recording whose output file is swapped at every cut, as
// FFmpeg's own HLS muxer does: continuity counters and timestamps run across segments, so players see
// no discontinuity at segment boundaries. Each segment is written as `<name>.ts.part`, flushed,
// fsync'd and only then renamed to `<name>.ts`: a `.ts` under its final name is always complete.
#pragma once

extern "C" {
#include <libavformat/avformat.h>
}

#include <cstdint>
#include <string>
#include <vector>

namespace recfleet {

struct WriteError {
  const char* code = nullptr;  // one of fatal_codes (generated/vocabulary.h)
  std::string message;
};

// The code of a failed write, open or sync: a full disk, no memory, or otherwise an unwritable spool.
const char* ErrnoCode(int errnum);

struct ClosedSegment {
  std::string path;
  int64_t bytes = 0;
};

class SegmentWriter {
 public:
  SegmentWriter(std::string dir, std::string prefix);
  ~SegmentWriter();
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;

  // Creates the muxer with one output stream per input codec (stream copy, 90 kHz time base).
  bool Init(const std::vector<const AVCodecParameters*>& params, WriteError* err);
  bool OpenSegment(int64_t sequence, WriteError* err);
  // `pkt` must already carry the output stream index and 90 kHz timestamps.
  bool Write(AVPacket* pkt, WriteError* err);
  // Flushes and completes the open segment; `last` also writes the muxer trailer.
  bool CloseSegment(bool last, ClosedSegment* out, WriteError* err);
  // Drops the open segment without completing it (cancel, or a write error).
  void Abandon();

  bool segment_open() const { return fd_ >= 0; }
  static int WritePacketCallback(void* opaque, const uint8_t* buf, int size);

 private:
  std::string PathFor(int64_t sequence) const;
  void FreeIo();
  WriteError ErrnoError(int errnum, const std::string& what) const;

  std::string dir_;
  std::string prefix_;
  AVFormatContext* oc_ = nullptr;
  AVIOContext* pb_ = nullptr;
  int fd_ = -1;
  int write_errno_ = 0;
  bool header_written_ = false;
  std::string part_path_;
  std::string final_path_;
  int64_t segment_bytes_ = 0;
};

}  // namespace recfleet
