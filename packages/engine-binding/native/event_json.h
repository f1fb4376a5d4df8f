// Events cross from the recording thread to JavaScript as small JSON objects: plain data, built
// without touching any JS value off the main thread, parsed by the TypeScript wrapper.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace recfleet {

// Posts one event, as JSON, to the JavaScript thread.
using EmitFn = std::function<void(std::string json)>;

class EventJson {
 public:
  explicit EventJson(const char* type);
  EventJson& str(const char* key, const std::string& value);
  EventJson& num(const char* key, double value);
  EventJson& integer(const char* key, int64_t value);
  EventJson& boolean(const char* key, bool value);
  EventJson& raw(const char* key, const std::string& json);
  std::string done();

 private:
  void key(const char* k);
  std::string out_;
};

std::string JsonEscape(const std::string& s);

}  // namespace recfleet
