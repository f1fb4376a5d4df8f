#include "event_json.h"

#include <cmath>
#include <cstdio>

namespace recfleet {

std::string JsonEscape(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

EventJson::EventJson(const char* type) { out_ = std::string("{\"type\":") + JsonEscape(type); }

void EventJson::key(const char* k) { out_ += "," + JsonEscape(k) + ":"; }

EventJson& EventJson::str(const char* k, const std::string& v) {
  key(k);
  out_ += JsonEscape(v);
  return *this;
}

EventJson& EventJson::num(const char* k, double v) {
  key(k);
  if (!std::isfinite(v)) v = 0;
  char buf[64];
  snprintf(buf, sizeof buf, "%.6f", v);
  out_ += buf;
  return *this;
}

EventJson& EventJson::integer(const char* k, int64_t v) {
  key(k);
  out_ += std::to_string(v);
  return *this;
}

EventJson& EventJson::boolean(const char* k, bool v) {
  key(k);
  out_ += v ? "true" : "false";
  return *this;
}

EventJson& EventJson::raw(const char* k, const std::string& json) {
  key(k);
  out_ += json;
  return *this;
}

std::string EventJson::done() { return out_ + "}"; }

}  // namespace recfleet
