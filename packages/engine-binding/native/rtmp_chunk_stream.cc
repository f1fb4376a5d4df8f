#include "rtmp_chunk_stream.h"

extern "C" {
#include <libavutil/error.h>
}

#include <algorithm>
#include <cstring>

namespace recfleet {

namespace {
constexpr size_t kMessageHeaderSize[4] = {11, 7, 3, 0};
constexpr uint32_t kExtendedTimestamp = 0xffffff;
constexpr uint32_t kOutChunkSize = 128;
// A server uses a handful of chunk streams; a flood of new ones is a broken or hostile peer, and each
// would keep a reassembly buffer of up to 16 MiB.
constexpr size_t kMaxChunkStreams = 64;
// A chunk stream keeps a reassembly buffer up to this size between its messages (a few audio or
// inter-frame video messages' worth); a larger one (a keyframe) is freed once its message has been read,
// so that each recording does not hold its largest keyframe twice over (here and in the packet the
// demuxer made of it) between keyframes.
constexpr size_t kKeptBufferBytes = 64 * 1024;

uint32_t Be24(const uint8_t* p) { return static_cast<uint32_t>(p[0]) << 16 | static_cast<uint32_t>(p[1]) << 8 | p[2]; }
uint32_t Be32(const uint8_t* p) { return Be24(p) << 8 | p[3]; }
uint32_t Le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[3]) << 24 | static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[1]) << 8 |
         p[0];
}
}  // namespace

void ChunkReader::Abort(uint32_t chunk_stream) {
  auto it = streams_.find(chunk_stream);
  if (it == streams_.end() || &it->second == body_) return;
  it->second.active = false;
  it->second.filled = 0;
}

int ChunkReader::ParseHeader() {
  const uint8_t* d = socket_->data();
  const size_t avail = socket_->size();
  if (avail < 1) return 0;
  const unsigned fmt = d[0] >> 6;
  uint32_t csid = d[0] & 0x3f;
  size_t pos = 1;
  if (csid == 0) {
    if (avail < 2) return 0;
    csid = 64 + d[1];
    pos = 2;
  } else if (csid == 1) {
    if (avail < 3) return 0;
    csid = 64 + d[1] + (static_cast<uint32_t>(d[2]) << 8);
    pos = 3;
  }
  if (avail < pos + kMessageHeaderSize[fmt]) return 0;
  if (streams_.size() >= kMaxChunkStreams && streams_.find(csid) == streams_.end()) return AVERROR_INVALIDDATA;
  ChunkStream& cs = streams_[csid];
  uint32_t timestamp_field = cs.timestamp_field;
  uint32_t length = cs.length;
  uint8_t type = cs.type;
  uint32_t stream_id = cs.stream_id;
  if (fmt <= 2) timestamp_field = Be24(d + pos);
  if (fmt <= 1) {
    length = Be24(d + pos + 3);
    type = d[pos + 6];
  }
  if (fmt == 0) stream_id = Le32(d + pos + 7);
  pos += kMessageHeaderSize[fmt];
  uint32_t timestamp_value = timestamp_field;
  if (timestamp_field == kExtendedTimestamp) {
    if (avail < pos + 4) return 0;
    timestamp_value = Be32(d + pos);
    pos += 4;
  }
  if (cs.active) {
    // A continuation chunk; a header that changes the length mid-message is a broken stream.
    if (fmt <= 1 && length != cs.length) return AVERROR_INVALIDDATA;
  } else {
    cs.timestamp = fmt == 0 ? timestamp_value : cs.timestamp + timestamp_value;
    cs.timestamp_field = timestamp_field;
    cs.length = length;
    cs.type = type;
    cs.stream_id = stream_id;
    cs.active = true;
    cs.filled = 0;
    const size_t need = kFlvTagHeaderSize + length + kFlvTagTrailerSize;
    if (cs.capacity < need) {
      cs.buffer.reset(new uint8_t[need]);
      cs.capacity = need;
    }
  }
  socket_->Consume(pos);
  body_ = &cs;
  body_csid_ = csid;
  body_left_ = std::min(chunk_size_, cs.length - cs.filled);
  return 1;
}

int ChunkReader::Next(RtmpMessage* message) {
  if (delivered_ && delivered_->capacity > kKeptBufferBytes) {
    delivered_->buffer.reset();
    delivered_->capacity = 0;
  }
  delivered_ = nullptr;
  for (;;) {
    if (!body_) {
      int ret = ParseHeader();
      if (ret < 0) return ret;
      if (ret == 0 && (ret = socket_->Fill()) < 0) return ret;
      continue;
    }
    if (body_left_ > 0) {
      const size_t n = std::min<size_t>(body_left_, socket_->size());
      if (n == 0) {
        int ret = socket_->Fill();
        if (ret < 0) return ret;
        continue;
      }
      std::memcpy(body_->buffer.get() + kFlvTagHeaderSize + body_->filled, socket_->data(), n);
      socket_->Consume(n);
      body_->filled += static_cast<uint32_t>(n);
      body_left_ -= static_cast<uint32_t>(n);
      if (body_left_ > 0) continue;
    }
    ChunkStream* cs = body_;
    body_ = nullptr;
    if (cs->filled < cs->length) continue;  // the message goes on in a later chunk
    cs->active = false;
    message->chunk_stream = body_csid_;
    message->type = cs->type;
    message->timestamp = cs->timestamp;
    message->stream_id = cs->stream_id;
    message->size = cs->length;
    message->payload = cs->buffer.get() + kFlvTagHeaderSize;
    delivered_ = cs;
    return 0;
  }
}

void WriteMessage(std::vector<uint8_t>* out, uint32_t chunk_stream, uint8_t type, uint32_t stream_id,
                  const std::vector<uint8_t>& payload) {
  // Our chunk streams (2, 3, 8) all fit the one-byte basic header.
  const uint8_t basic = static_cast<uint8_t>(chunk_stream & 0x3f);
  const uint32_t size = static_cast<uint32_t>(payload.size());
  const uint8_t header[12] = {basic,
                              0,
                              0,
                              0,  // timestamp 0
                              static_cast<uint8_t>(size >> 16),
                              static_cast<uint8_t>(size >> 8),
                              static_cast<uint8_t>(size),
                              type,
                              static_cast<uint8_t>(stream_id),
                              static_cast<uint8_t>(stream_id >> 8),
                              static_cast<uint8_t>(stream_id >> 16),
                              static_cast<uint8_t>(stream_id >> 24)};
  out->insert(out->end(), header, header + sizeof header);
  for (uint32_t offset = 0; offset < size; offset += kOutChunkSize) {
    if (offset > 0) out->push_back(static_cast<uint8_t>(0xc0 | basic));
    const uint32_t n = std::min(kOutChunkSize, size - offset);
    out->insert(out->end(), payload.begin() + offset, payload.begin() + offset + n);
  }
}

}  // namespace recfleet
