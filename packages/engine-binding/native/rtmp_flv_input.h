// An rtmp:// or rtmps:// source for libavformat's FLV demuxer: RtmpPlaySession's FLV stream.
#pragma once

#include "rtmp_play_session.h"
#include "source_input.h"

namespace recfleet {

class RtmpFlvInput : public SourceInput {
 public:
  // `wake_fd`: see BufferedSocket.
  RtmpFlvInput(const ReadPolicy& policy, const AVIOInterruptCB& interrupt, int wake_fd)
      : session_(policy, interrupt, wake_fd) {}

  bool reached() const override { return session_.connected(); }

 protected:
  // AVERROR(EINVAL) for a URL without a host, else the session's result.
  int Join(const std::string& url, std::string* detail) override;
  int Read(uint8_t* buf, int size) override { return session_.Read(buf, size); }

 private:
  RtmpPlaySession session_;
};

}  // namespace recfleet
