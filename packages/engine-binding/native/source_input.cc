#include "source_input.h"

extern "C" {
#include <libavformat/avio.h>
#include <libavutil/error.h>
#include <libavutil/mem.h>
}

namespace recfleet {

namespace {
// The demuxer reads small fields through this buffer; a payload larger than it is read straight into
// the packet (avio_read's direct path), so it only needs to hold a few small reads.
constexpr int kAvioBufferSize = 16 * 1024;
}  // namespace

SourceInput::~SourceInput() {
  if (avio_) {
    av_freep(&avio_->buffer);
    avio_context_free(&avio_);
  }
}

int SourceInput::ReadPacket(void* opaque, uint8_t* buf, int size) {
  return static_cast<SourceInput*>(opaque)->Read(buf, size);
}

int SourceInput::Open(const std::string& url, std::string* detail) {
  int ret = Join(url, detail);
  if (ret < 0) return ret;
  auto* buffer = static_cast<unsigned char*>(av_malloc(kAvioBufferSize));
  if (!buffer) return AVERROR(ENOMEM);
  avio_ = avio_alloc_context(buffer, kAvioBufferSize, 0, this, &SourceInput::ReadPacket, nullptr, nullptr);
  if (!avio_) {
    av_free(buffer);
    return AVERROR(ENOMEM);
  }
  avio_->seekable = 0;
  return 0;
}

}  // namespace recfleet
