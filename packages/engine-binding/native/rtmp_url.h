// Where an rtmp:// URL points and what the player asks for, split as libavformat's RTMP client splits
// it, so that a URL plays the same through either reader: `rtmp://host[:port]/app[/instance]/name?query`
// connects to app (the first path segment, or the first two when the name has a further slash), with
// tcUrl `rtmp://host:port/app`, and plays `name?query` — the query (a channel token `?sign=…`) is part
// of the stream name, which is where node-media-server and its peers read it. Nothing is decoded.
#pragma once

#include <string>

namespace recfleet {

struct RtmpUrl {
  bool tls = false;  // rtmps://
  std::string host;
  int port = 1935;  // rtmps: 443
  std::string app;
  std::string playpath;
  std::string tc_url;
};

// False when the URL has no host or is neither rtmp:// nor rtmps://.
bool ParseRtmpUrl(const std::string& url, RtmpUrl* out);

}  // namespace recfleet
