#include "rtmp_flv_input.h"

extern "C" {
#include <libavformat/avio.h>
#include <libavutil/mem.h>
}

namespace recfleet {

namespace {
// The demuxer reads tag headers through this buffer; payloads larger than it are read straight into the
// packet (avio_read's direct path), so it only needs to hold a few small tags.
constexpr int kAvioBufferSize = 16 * 1024;
}  // namespace

RtmpFlvInput::RtmpFlvInput(const ReadPolicy& policy, const AVIOInterruptCB& interrupt, int wake_fd)
    : session_(policy, interrupt, wake_fd) {}

RtmpFlvInput::~RtmpFlvInput() {
  if (avio_) {
    av_freep(&avio_->buffer);
    avio_context_free(&avio_);
  }
}

int RtmpFlvInput::ReadPacket(void* opaque, uint8_t* buf, int size) {
  return static_cast<RtmpFlvInput*>(opaque)->session_.Read(buf, size);
}

int RtmpFlvInput::Open(const std::string& url, std::string* detail) {
  RtmpUrl parsed;
  if (!ParseRtmpUrl(url, &parsed)) return AVERROR(EINVAL);
  int ret = session_.Open(parsed, detail);
  if (ret < 0) return ret;
  auto* buffer = static_cast<unsigned char*>(av_malloc(kAvioBufferSize));
  if (!buffer) return AVERROR(ENOMEM);
  avio_ = avio_alloc_context(buffer, kAvioBufferSize, 0, this, &RtmpFlvInput::ReadPacket, nullptr, nullptr);
  if (!avio_) {
    av_free(buffer);
    return AVERROR(ENOMEM);
  }
  avio_->seekable = 0;
  return 0;
}

}  // namespace recfleet
