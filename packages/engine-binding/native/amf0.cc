#include "amf0.h"

#include <cstring>

namespace recfleet {

namespace {
// Nesting deeper than this is no server reply: refuse it rather than recurse on a hostile input.
constexpr int kMaxDepth = 16;

uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 |
         p[3];
}
}  // namespace

void Amf0Writer::U16(uint16_t v) {
  out_->push_back(static_cast<uint8_t>(v >> 8));
  out_->push_back(static_cast<uint8_t>(v));
}

void Amf0Writer::String(const std::string& s) {
  out_->push_back(amf0::kString);
  Field(s);
}

void Amf0Writer::Field(const std::string& name) {
  const size_t n = name.size() > 0xffff ? 0xffff : name.size();
  U16(static_cast<uint16_t>(n));
  out_->insert(out_->end(), name.begin(), name.begin() + static_cast<std::ptrdiff_t>(n));
}

void Amf0Writer::Number(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  out_->push_back(amf0::kNumber);
  for (int shift = 56; shift >= 0; shift -= 8) out_->push_back(static_cast<uint8_t>(bits >> shift));
}

void Amf0Writer::Bool(bool b) {
  out_->push_back(amf0::kBoolean);
  out_->push_back(b ? 1 : 0);
}

void Amf0Writer::Null() { out_->push_back(amf0::kNull); }

void Amf0Writer::ObjectStart() { out_->push_back(amf0::kObject); }

void Amf0Writer::ObjectEnd() {
  U16(0);
  out_->push_back(amf0::kObjectEnd);
}

bool Amf0Reader::PropertyName(std::string* name) {
  if (!Need(2)) return false;
  const size_t n = Be16(p_);
  if (!Need(2 + n)) return false;
  name->assign(reinterpret_cast<const char*>(p_ + 2), n);
  p_ += 2 + n;
  return true;
}

bool Amf0Reader::String(std::string* s) {
  if (!Need(1)) return false;
  if (*p_ == amf0::kString) {
    p_ += 1;
    return PropertyName(s);
  }
  if (*p_ == amf0::kLongString) {
    if (!Need(5)) return false;
    const size_t n = Be32(p_ + 1);
    if (!Need(5 + n)) return false;
    s->assign(reinterpret_cast<const char*>(p_ + 5), n);
    p_ += 5 + n;
    return true;
  }
  return false;
}

bool Amf0Reader::Number(double* d) {
  if (!Need(9) || *p_ != amf0::kNumber) return false;
  uint64_t bits = 0;
  for (int i = 1; i <= 8; i++) bits = bits << 8 | p_[i];
  std::memcpy(d, &bits, sizeof *d);
  p_ += 9;
  return true;
}

bool Amf0Reader::SkipProperties() {
  for (;;) {
    if (Need(3) && p_[0] == 0 && p_[1] == 0 && p_[2] == amf0::kObjectEnd) {
      p_ += 3;
      return true;
    }
    std::string name;
    if (!PropertyName(&name) || !Skip()) return false;
  }
}

bool Amf0Reader::Skip() {
  if (!Need(1)) return false;
  const uint8_t marker = *p_;
  size_t fixed = 0;
  switch (marker) {
    case amf0::kNumber:
      fixed = 9;
      break;
    case amf0::kBoolean:
      fixed = 2;
      break;
    case amf0::kNull:
    case amf0::kUndefined:
    case amf0::kUnsupported:
      fixed = 1;
      break;
    case amf0::kReference:
      fixed = 3;
      break;
    case amf0::kDate:
      fixed = 11;
      break;
    case amf0::kString: {
      std::string ignored;
      return String(&ignored);
    }
    case amf0::kLongString:
    case amf0::kXmlDocument: {
      if (!Need(5)) return false;
      const size_t n = Be32(p_ + 1);
      if (!Need(5 + n)) return false;
      p_ += 5 + n;
      return true;
    }
    case amf0::kObject:
    case amf0::kEcmaArray:
    case amf0::kTypedObject: {
      if (depth_ >= kMaxDepth) return false;
      if (marker == amf0::kObject) {
        p_ += 1;
      } else if (marker == amf0::kEcmaArray) {
        if (!Need(5)) return false;
        p_ += 5;
      } else {
        p_ += 1;
        std::string class_name;
        if (!PropertyName(&class_name)) return false;
      }
      depth_++;
      const bool ok = SkipProperties();
      depth_--;
      return ok;
    }
    case amf0::kStrictArray: {
      if (depth_ >= kMaxDepth || !Need(5)) return false;
      uint32_t count = Be32(p_ + 1);
      p_ += 5;
      depth_++;
      bool ok = true;
      while (ok && count-- > 0) ok = Skip();
      depth_--;
      return ok;
    }
    default:
      return false;  // AMF3 switch and reserved markers: nothing an RTMP player has to read
  }
  if (!Need(fixed)) return false;
  p_ += fixed;
  return true;
}

bool Amf0FindString(Amf0Reader r, const std::string& name, std::string* value) {
  bool found = false;
  bool ok = r.Properties([&](const std::string& field, Amf0Reader& v) {
    if (!found && field == name && v.String(value)) {
      found = true;
      return true;
    }
    return v.Skip();
  });
  return ok && found;
}

}  // namespace recfleet
