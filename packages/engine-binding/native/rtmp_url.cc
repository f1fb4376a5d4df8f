#include "rtmp_url.h"

extern "C" {
#include <libavformat/avformat.h>
}

#include <cstring>
#include <vector>

namespace recfleet {

namespace {
bool EndsWith(const std::string& s, const char* tail) {
  const size_t n = std::strlen(tail);
  return s.size() >= n && s.compare(s.size() - n, n, tail) == 0;
}
}  // namespace

bool ParseRtmpUrl(const std::string& url, RtmpUrl* out) {
  std::vector<char> proto(16), auth(256), host(256), path(url.size() + 1);
  int port = -1;
  av_url_split(proto.data(), static_cast<int>(proto.size()), auth.data(), static_cast<int>(auth.size()),
               host.data(), static_cast<int>(host.size()), &port, path.data(), static_cast<int>(path.size()),
               url.c_str());
  const std::string scheme = proto.data();
  if (scheme != "rtmp" && scheme != "rtmps") return false;
  out->tls = scheme == "rtmps";
  out->host = host.data();
  if (out->host.empty()) return false;
  out->port = port >= 0 ? port : out->tls ? 443 : 1935;
  // av_url_split keeps the query in the path: it stays with the stream name.
  const std::string p = path.data();
  std::string name;
  const size_t first = p.empty() ? std::string::npos : 1;
  const size_t slash = first == std::string::npos ? std::string::npos : p.find('/', first);
  if (slash == std::string::npos) {
    out->app.clear();
    name = first == std::string::npos ? std::string() : p.substr(first);
  } else {
    // `app/instance/name`: a second slash before any colon makes the instance part of the app
    // (`mp4:folder/file` stays a name).
    const size_t second = p.find('/', slash + 1);
    const size_t colon = p.find(':', slash + 1);
    if (second == std::string::npos || (colon != std::string::npos && colon < second)) {
      out->app = p.substr(1, slash - 1);
      name = p.substr(slash + 1);
    } else {
      out->app = p.substr(1, second - 1);
      name = p.substr(second + 1);
    }
  }
  // A stored file is named by its type as Flash servers expect: `x.mp4` is played as `mp4:x.mp4`, and
  // `x.flv` as `x`.
  if (name.find(':') == std::string::npos && (EndsWith(name, ".mp4") || EndsWith(name, ".f4v"))) {
    name = "mp4:" + name;
  } else if (EndsWith(name, ".flv")) {
    name.resize(name.size() - 4);
  }
  out->playpath = name;
  const std::string shown_host = out->host.find(':') != std::string::npos ? "[" + out->host + "]" : out->host;
  out->tc_url = std::string(proto.data()) + "://" + shown_host + ":" + std::to_string(out->port) + "/" + out->app;
  return true;
}

}  // namespace recfleet
