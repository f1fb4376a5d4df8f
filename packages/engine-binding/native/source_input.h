// A source the engine reads itself and hands to a libavformat demuxer as a custom AVIOContext, in place
// of the URL given to avformat_open_input: the demuxer then probes and reads exactly as behind
// libavformat's own protocol, only the bytes come from a buffered reader of ours. RtmpFlvInput (rtmp://,
// rtmps://: an FLV stream) and UdpTsInput (udp://, rtp://: an MPEG-TS stream) are the two.
#pragma once

#include <cstdint>
#include <string>

extern "C" {
#include <libavutil/error.h>
}

struct AVIOContext;

namespace recfleet {

// What Open returns when the source turns out to be one libavformat must read after all (an rtp://
// stream of another payload than MPEG-TS): the recording then opens the URL with libavformat.
inline constexpr int kReadWithLibavformat = FFERRTAG('R', 'L', 'A', 'V');

class SourceInput {
 public:
  virtual ~SourceInput();
  SourceInput(const SourceInput&) = delete;
  SourceInput& operator=(const SourceInput&) = delete;

  // Joins the source. 0, or an AVERROR; `detail` may say what the server answered.
  int Open(const std::string& url, std::string* detail);
  // For AVFormatContext::pb; owned here, so it must outlive the format context's use of it.
  AVIOContext* avio() const { return avio_; }
  // Whether the last Open reached the source (a connection was made), however it ended; false where
  // there is no connection to make (a datagram socket) and the error code tells instead.
  virtual bool reached() const { return false; }

 protected:
  SourceInput() = default;
  virtual int Join(const std::string& url, std::string* detail) = 0;
  // Bytes of the stream (> 0), or an AVERROR.
  virtual int Read(uint8_t* buf, int size) = 0;

 private:
  static int ReadPacket(void* opaque, uint8_t* buf, int size);
  AVIOContext* avio_ = nullptr;
};

}  // namespace recfleet
