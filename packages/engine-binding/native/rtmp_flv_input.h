// An rtmp:// source for libavformat: RtmpPlaySession's FLV stream behind a custom AVIOContext, which
// the recording loop hands to avformat_open_input in place of the URL. The demuxer then probes, reads
// and reports exactly as it does behind libavformat's own RTMP client.
#pragma once

#include <string>

#include "rtmp_play_session.h"

struct AVIOContext;

namespace recfleet {

class RtmpFlvInput {
 public:
  // `wake_fd`: see BufferedSocket.
  RtmpFlvInput(const ReadPolicy& policy, const AVIOInterruptCB& interrupt, int wake_fd);
  ~RtmpFlvInput();
  RtmpFlvInput(const RtmpFlvInput&) = delete;
  RtmpFlvInput& operator=(const RtmpFlvInput&) = delete;

  // Plays the URL. 0, AVERROR(EINVAL) for a URL without a host, or the session's AVERROR (`detail`:
  // what the server answered, when it said).
  int Open(const std::string& url, std::string* detail);
  // For AVFormatContext::pb; owned here, so it must outlive the format context's use of it.
  AVIOContext* avio() const { return avio_; }

 private:
  static int ReadPacket(void* opaque, uint8_t* buf, int size);
  RtmpPlaySession session_;
  AVIOContext* avio_ = nullptr;
};

}  // namespace recfleet
