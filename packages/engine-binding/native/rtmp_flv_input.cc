#include "rtmp_flv_input.h"

extern "C" {
#include <libavutil/error.h>
}

#include <cerrno>

namespace recfleet {

int RtmpFlvInput::Join(const std::string& url, std::string* detail) {
  RtmpUrl parsed;
  if (!ParseRtmpUrl(url, &parsed)) return AVERROR(EINVAL);
  return session_.Open(parsed, detail);
}

}  // namespace recfleet
