// The little of AMF0 (Adobe's Action Message Format) an RTMP player needs: writing its commands
// (connect, createStream, play) and reading the server's replies (_result, _error, onStatus) and the
// names in onMetaData. Media never passes through here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace recfleet {

class Amf0Writer {
 public:
  explicit Amf0Writer(std::vector<uint8_t>* out) : out_(out) {}
  void String(const std::string& s);
  void Number(double d);
  void Bool(bool b);
  void Null();
  void ObjectStart();
  // A property name inside an object (a bare UTF-8 string, no type marker); its value follows.
  void Field(const std::string& name);
  void ObjectEnd();

 private:
  void U16(uint16_t v);
  std::vector<uint8_t>* out_;
};

// Reads values one after another from [p, end); every call fails (false) on malformed or truncated
// input instead of reading past the end.
class Amf0Reader {
 public:
  Amf0Reader(const uint8_t* p, size_t size) : p_(p), end_(p + size) {}
  bool String(std::string* s);
  bool Number(double* d);
  // Steps over one value of any type (objects and arrays with everything in them).
  bool Skip();
  // The value after the current one is an object or ECMA array: calls `on_field(name, reader)` for each
  // property, with the reader at the property's value; the callback must consume that value (Skip or
  // read it). Returns false when the value is not such a container or is malformed.
  template <typename F>
  bool Properties(F on_field);
  bool at_end() const { return p_ >= end_; }
  const uint8_t* position() const { return p_; }

 private:
  bool Need(size_t n) const { return static_cast<size_t>(end_ - p_) >= n; }
  bool PropertyName(std::string* name);
  bool SkipProperties();
  const uint8_t* p_;
  const uint8_t* end_;
  int depth_ = 0;
};

// The string property `name` of the object that is the next value of `r` (e.g. `code` of an onStatus
// info object); false when absent or not a string.
bool Amf0FindString(Amf0Reader r, const std::string& name, std::string* value);

namespace amf0 {
enum Marker : uint8_t {
  kNumber = 0x00,
  kBoolean = 0x01,
  kString = 0x02,
  kObject = 0x03,
  kNull = 0x05,
  kUndefined = 0x06,
  kReference = 0x07,
  kEcmaArray = 0x08,
  kObjectEnd = 0x09,
  kStrictArray = 0x0a,
  kDate = 0x0b,
  kLongString = 0x0c,
  kUnsupported = 0x0d,
  kXmlDocument = 0x0f,
  kTypedObject = 0x10,
};
}  // namespace amf0

template <typename F>
bool Amf0Reader::Properties(F on_field) {
  if (!Need(1)) return false;
  const uint8_t marker = *p_;
  if (marker == amf0::kEcmaArray) {
    if (!Need(5)) return false;
    p_ += 5;  // marker, and a count that servers do not keep reliably: the end marker is what counts
  } else if (marker == amf0::kObject) {
    p_ += 1;
  } else {
    return false;
  }
  for (;;) {
    if (Need(3) && p_[0] == 0 && p_[1] == 0 && p_[2] == amf0::kObjectEnd) {
      p_ += 3;
      return true;
    }
    std::string name;
    if (!PropertyName(&name)) return false;
    const uint8_t* before = p_;
    if (!on_field(name, *this) || p_ == before) return false;
  }
}

}  // namespace recfleet
