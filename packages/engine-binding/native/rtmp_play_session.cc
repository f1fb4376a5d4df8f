#include "rtmp_play_session.h"

extern "C" {
#include <libavutil/error.h>
#include <libavutil/hmac.h>
}

#include <algorithm>
#include <cstring>
#include <random>

#include "amf0.h"

namespace recfleet {

namespace {
constexpr size_t kHandshakeSize = 1536;
constexpr size_t kDigestSize = 32;

// RTMP message types (the specification's numbers).
enum : uint8_t {
  kSetChunkSize = 1,
  kAbort = 2,
  kAcknowledgement = 3,
  kUserControl = 4,
  kWindowAckSize = 5,
  kSetPeerBandwidth = 6,
  kAudio = 8,
  kVideo = 9,
  kDataAmf0 = 18,
  kCommandAmf0 = 20,
  kAggregate = 22,
};
// User control events.
constexpr uint16_t kSetBufferLength = 3;
constexpr uint16_t kPingRequest = 6;
constexpr uint16_t kPingResponse = 7;
// The chunk streams libavformat's client sends on: control, commands, and the play command.
constexpr uint32_t kControlChunkStream = 2;
constexpr uint32_t kCommandChunkStream = 3;
constexpr uint32_t kPlayChunkStream = 8;
// What libavformat's client announces, so that servers treat both readers alike.
constexpr uint8_t kClientVersion[4] = {9, 0, 124, 2};
constexpr char kFlashVersion[] = "LNX 9,0,124,2";
constexpr uint32_t kOwnWindowAckSize = 2500000;
constexpr uint32_t kBufferLengthMs = 3000;
constexpr double kLiveOrRecorded = -2000;  // play's start: a live stream if there is one, else a recorded one

// The handshake's keys (the Flash player's and the media server's, as every RTMP implementation has
// them): the first 30 / 36 bytes sign the handshake, all of them sign the reply.
constexpr uint8_t kKeyTail[32] = {0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0,
                                  0xD1, 0x02, 0x9E, 0x7E, 0x57, 0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80,
                                  0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE};
constexpr char kPlayerKeyText[] = "Genuine Adobe Flash Player 001";
constexpr char kServerKeyText[] = "Genuine Adobe Flash Media Server 001";

uint32_t Be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 |
         p[3];
}
void PutBe24(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 16);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v);
}
void PutBe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  PutBe24(p + 1, v);
}
void AppendBe16(std::vector<uint8_t>* out, uint16_t v) {
  out->push_back(static_cast<uint8_t>(v >> 8));
  out->push_back(static_cast<uint8_t>(v));
}
void AppendBe32(std::vector<uint8_t>* out, uint32_t v) {
  AppendBe16(out, static_cast<uint16_t>(v >> 16));
  AppendBe16(out, static_cast<uint16_t>(v));
}

std::vector<uint8_t> Key(const char* text, bool with_tail) {
  std::vector<uint8_t> key(text, text + std::strlen(text));
  if (with_tail) key.insert(key.end(), kKeyTail, kKeyTail + sizeof kKeyTail);
  return key;
}

// HMAC-SHA256 of `data` without the 32 bytes at `gap` (where the digest itself goes); gap < 0: all of it.
bool Digest(const uint8_t* data, size_t size, long gap, const std::vector<uint8_t>& key, uint8_t* out) {
  AVHMAC* hmac = av_hmac_alloc(AV_HMAC_SHA256);
  if (!hmac) return false;
  av_hmac_init(hmac, key.data(), static_cast<unsigned>(key.size()));
  if (gap < 0) {
    av_hmac_update(hmac, data, static_cast<unsigned>(size));
  } else {
    av_hmac_update(hmac, data, static_cast<unsigned>(gap));
    av_hmac_update(hmac, data + gap + kDigestSize, static_cast<unsigned>(size - gap - kDigestSize));
  }
  av_hmac_final(hmac, out, kDigestSize);
  av_hmac_free(hmac);
  return true;
}

// Where a handshake packet keeps its digest: the sum of four bytes at `base` picks one of 728 places.
size_t DigestOffset(const uint8_t* packet, size_t base) {
  return (packet[base] + packet[base + 1] + packet[base + 2] + packet[base + 3]) % 728 + base + 4;
}

// Only the fixed words of a status go into messages: a server's free text could echo the URL's token.
std::string Printable(const std::string& code) {
  const bool plain = !code.empty() && code.size() <= 64 && std::all_of(code.begin(), code.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_';
  });
  return plain ? code : std::string();
}
}  // namespace

RtmpPlaySession::RtmpPlaySession(const ReadPolicy& policy, const AVIOInterruptCB& interrupt, int wake_fd)
    : socket_(policy, interrupt, wake_fd), chunks_(&socket_) {}

// The digest handshake of Flash players: a server that answers with a digest of its own gets the signed
// reply it may check, any other (node-media-server answers an unsigned C1 in kind) the echo of S1.
int RtmpPlaySession::Handshake() {
  std::mt19937 random(std::random_device{}());
  std::vector<uint8_t> c0c1(1 + kHandshakeSize);
  c0c1[0] = 3;  // RTMP, unencrypted
  uint8_t* c1 = c0c1.data() + 1;
  std::memcpy(c1 + 4, kClientVersion, sizeof kClientVersion);
  for (size_t i = 8; i < kHandshakeSize; i++) c1[i] = static_cast<uint8_t>(random());
  const size_t client_digest = DigestOffset(c1, 8);
  if (!Digest(c1, kHandshakeSize, static_cast<long>(client_digest), Key(kPlayerKeyText, false), c1 + client_digest)) {
    return AVERROR(ENOMEM);
  }
  int ret = socket_.WriteAll(c0c1.data(), c0c1.size());
  if (ret < 0) return ret;
  std::vector<uint8_t> s(1 + 2 * kHandshakeSize);
  size_t got = 0;
  while (got < s.size()) {
    if (socket_.size() == 0 && (ret = socket_.Fill()) < 0) return ret;
    const size_t n = std::min(socket_.size(), s.size() - got);
    std::memcpy(s.data() + got, socket_.data(), n);
    socket_.Consume(n);
    got += n;
  }
  const uint8_t* s1 = s.data() + 1;
  std::vector<uint8_t> c2(s1, s1 + kHandshakeSize);
  if (s1[4] >= 3) {
    const std::vector<uint8_t> server_key = Key(kServerKeyText, false);
    uint8_t expected[kDigestSize];
    size_t found = 0;
    for (size_t base : {size_t{772}, size_t{8}}) {
      const size_t at = DigestOffset(s1, base);
      if (Digest(s1, kHandshakeSize, static_cast<long>(at), server_key, expected) &&
          std::memcmp(expected, s1 + at, kDigestSize) == 0) {
        found = at;
        break;
      }
    }
    if (found > 0) {
      uint8_t key[kDigestSize];
      if (!Digest(s1 + found, kDigestSize, -1, Key(kPlayerKeyText, true), key)) return AVERROR(ENOMEM);
      for (size_t i = 0; i < kHandshakeSize - kDigestSize; i++) c2[i] = static_cast<uint8_t>(random());
      if (!Digest(c2.data(), kHandshakeSize - kDigestSize, -1, std::vector<uint8_t>(key, key + kDigestSize),
                  c2.data() + kHandshakeSize - kDigestSize)) {
        return AVERROR(ENOMEM);
      }
    }
  }
  return socket_.WriteAll(c2.data(), c2.size());
}

int RtmpPlaySession::SendCommand(uint32_t chunk_stream, uint32_t stream_id, const std::vector<uint8_t>& payload) {
  out_.clear();
  WriteMessage(&out_, chunk_stream, kCommandAmf0, stream_id, payload);
  return socket_.WriteAll(out_.data(), out_.size());
}

int RtmpPlaySession::SendControl(uint8_t type, const std::vector<uint8_t>& payload) {
  out_.clear();
  WriteMessage(&out_, kControlChunkStream, type, 0, payload);
  return socket_.WriteAll(out_.data(), out_.size());
}

int RtmpPlaySession::Open(const RtmpUrl& url, std::string* detail) {
  int ret = socket_.Connect(url.host, url.port);
  connected_ = ret >= 0;
  if (ret >= 0 && url.tls) ret = socket_.StartTls(url.host);
  if (ret >= 0) ret = Handshake();
  if (ret < 0) return ret;

  std::vector<uint8_t> cmd;
  Amf0Writer w(&cmd);
  const double connect_id = ++transaction_;
  w.String("connect");
  w.Number(connect_id);
  w.ObjectStart();
  w.Field("app");
  w.String(url.app);
  w.Field("flashVer");
  w.String(kFlashVersion);
  w.Field("tcUrl");
  w.String(url.tc_url);
  w.Field("fpad");
  w.Bool(false);
  w.Field("capabilities");
  w.Number(15);
  w.Field("audioCodecs");
  w.Number(4071);
  w.Field("videoCodecs");
  w.Number(252);
  w.Field("videoFunction");
  w.Number(1);
  w.ObjectEnd();
  if ((ret = SendCommand(kCommandChunkStream, 0, cmd)) < 0 || (ret = Pump(connect_id)) < 0) goto done;

  cmd.clear();
  AppendBe32(&cmd, kOwnWindowAckSize);
  if ((ret = SendControl(kWindowAckSize, cmd)) < 0) goto done;
  {
    cmd.clear();
    const double create_id = ++transaction_;
    w.String("createStream");
    w.Number(create_id);
    w.Null();
    if ((ret = SendCommand(kCommandChunkStream, 0, cmd)) < 0 || (ret = Pump(create_id)) < 0) goto done;
  }
  {
    cmd.clear();
    w.String("play");
    w.Number(++transaction_);
    w.Null();
    w.String(url.playpath);
    w.Number(kLiveOrRecorded);
    const uint32_t stream_id = static_cast<uint32_t>(stream_id_);
    if ((ret = SendCommand(kPlayChunkStream, stream_id, cmd)) < 0) goto done;
    cmd.clear();
    AppendBe16(&cmd, kSetBufferLength);
    AppendBe32(&cmd, stream_id);
    AppendBe32(&cmd, kBufferLengthMs);
    if ((ret = SendControl(kUserControl, cmd)) < 0) goto done;
  }
  // A server that refuses the play says so with an error status, or (node-media-server) by closing the
  // connection after its NetStream.Play.Start: the play has worked only once media or metadata came.
  while (!has_audio_ && !has_video_ && !has_metadata_) {
    if ((ret = Pump()) < 0) goto done;
  }
  std::memcpy(header_, "FLV\x01\x00\x00\x00\x00\x09\x00\x00\x00\x00", sizeof header_);
  header_[4] = static_cast<uint8_t>((has_audio_ ? 4 : 0) | (has_video_ ? 1 : 0));
  header_left_ = sizeof header_;
  socket_.UseLowWaterMark();
done:
  if (ret < 0 && !detail_.empty()) *detail = detail_;
  return ret;
}

int RtmpPlaySession::Read(uint8_t* buf, int size) {
  if (header_left_ > 0) {
    const uint32_t n = std::min<uint32_t>(header_left_, static_cast<uint32_t>(size));
    std::memcpy(buf, header_ + sizeof header_ - header_left_, n);
    header_left_ -= n;
    return static_cast<int>(n);
  }
  while (pending_left_ == 0) {
    int ret = Pump();
    if (ret < 0) return ret;
  }
  const uint32_t n = std::min<uint32_t>(pending_left_, static_cast<uint32_t>(size));
  std::memcpy(buf, pending_, n);
  pending_ += n;
  pending_left_ -= n;
  return static_cast<int>(n);
}

int RtmpPlaySession::Pump(double until_reply) {
  for (;;) {
    if (stopped_) return AVERROR_EOF;
    RtmpMessage m;
    int ret = chunks_.Next(&m);
    // A connection that ends or breaks is an I/O error, as libavformat's client reports it; an
    // interrupted wait stays what it is.
    if (ret < 0) return ret == AVERROR_EXIT || ret == AVERROR(ENOMEM) ? ret : AVERROR(EIO);
    const uint32_t received = socket_.bytes_received();
    if (ack_window_ > 0 && received - acked_ >= ack_window_) {
      std::vector<uint8_t> ack;
      AppendBe32(&ack, received);
      if ((ret = SendControl(kAcknowledgement, ack)) < 0) return ret;
      acked_ = received;
    }
    switch (m.type) {
      case kSetChunkSize:
      case kAbort:
      case kAcknowledgement:
      case kUserControl:
      case kWindowAckSize:
      case kSetPeerBandwidth:
        if ((ret = OnControl(m)) < 0) return ret;
        break;
      case kCommandAmf0: {
        bool replied = false;
        if ((ret = OnCommand(m, until_reply, &replied)) < 0) return ret;
        if (replied) return 0;
        break;
      }
      case kAudio:
      case kVideo:
        if (m.size == 0) break;
        (m.type == kAudio ? has_audio_ : has_video_) = true;
        PendTag(m, 0);
        return 0;
      case kDataAmf0:
        if ((ret = OnMetadata(m)) < 0) return ret;
        if (pending_left_ > 0) return 0;
        break;
      case kAggregate: {
        // Already FLV tags (header, data, size); only their timestamps move onto the message's clock.
        uint8_t* p = m.payload;
        uint8_t* const end = m.payload + m.size;
        uint32_t ts = m.timestamp;
        uint32_t previous = 0;
        bool first = true;
        while (end - p >= static_cast<std::ptrdiff_t>(kFlvTagHeaderSize + kFlvTagTrailerSize)) {
          const uint32_t size = static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3];
          const uint32_t own = (static_cast<uint32_t>(p[4]) << 16 | static_cast<uint32_t>(p[5]) << 8 | p[6]) |
                               static_cast<uint32_t>(p[7]) << 24;
          if (static_cast<size_t>(end - p) < kFlvTagHeaderSize + size + kFlvTagTrailerSize) break;
          if (!first) ts += own - previous;
          first = false;
          previous = own;
          PutBe24(p + 4, ts);
          p[7] = static_cast<uint8_t>(ts >> 24);
          p += kFlvTagHeaderSize + size + kFlvTagTrailerSize;
        }
        if (p == m.payload) break;
        Pend(m.payload, static_cast<uint32_t>(p - m.payload));
        return 0;
      }
      default:
        break;  // AMF3 commands and data, shared objects: nothing a player of one stream needs
    }
    if (stopped_) return AVERROR_EOF;
  }
}

int RtmpPlaySession::OnControl(const RtmpMessage& m) {
  const uint8_t* d = m.payload;
  switch (m.type) {
    case kSetChunkSize: {
      if (m.size < 4) return AVERROR_INVALIDDATA;
      const uint32_t size = Be32(d) & 0x7fffffff;
      if (size < 1) return AVERROR_INVALIDDATA;
      chunks_.set_chunk_size(size);
      return 0;
    }
    case kAbort:
      if (m.size >= 4) chunks_.Abort(Be32(d));
      return 0;
    case kWindowAckSize:
      if (m.size >= 4) ack_window_ = Be32(d);
      return 0;
    case kUserControl:
      if (m.size >= 6 && (d[0] << 8 | d[1]) == kPingRequest) {
        std::vector<uint8_t> pong;
        AppendBe16(&pong, kPingResponse);
        pong.insert(pong.end(), d + 2, d + 6);
        return SendControl(kUserControl, pong);
      }
      return 0;
    default:
      return 0;  // acknowledgements of what we sent, the server's peer bandwidth: nothing to do
  }
}

int RtmpPlaySession::OnCommand(const RtmpMessage& m, double until_reply, bool* replied) {
  Amf0Reader r(m.payload, m.size);
  std::string name;
  double transaction = 0;
  if (!r.String(&name)) return 0;
  r.Number(&transaction);
  if (name == "_result" || name == "_error") {
    if (until_reply == 0 || transaction != until_reply) return 0;
    if (name == "_error") {
      std::string code;
      r.Skip();
      if (Amf0FindString(r, "code", &code)) detail_ = Printable(code);
      return AVERROR(EIO);
    }
    *replied = true;
    // createStream's reply: null, then the stream id. (connect's: two objects, nothing to keep.)
    double id = 0;
    Amf0Reader value = r;
    if (value.Skip() && value.Number(&id)) stream_id_ = id;
    return 0;
  }
  if (name == "onStatus") {
    std::string level, code;
    r.Skip();  // null
    Amf0FindString(r, "level", &level);
    Amf0FindString(r, "code", &code);
    if (level == "error") {
      detail_ = Printable(code);
      return AVERROR(EIO);
    }
    if (code == "NetStream.Play.Stop" || code == "NetStream.Play.UnpublishNotify") stopped_ = true;
  }
  return 0;
}

// Data messages go to the demuxer as script tags; onMetaData first names the streams to come (which
// the FLV header announces). As libavformat's client: a leading @setDataFrame is dropped, and only a
// message that starts with onMetaData counts as the metadata.
int RtmpPlaySession::OnMetadata(RtmpMessage& m) {
  Amf0Reader r(m.payload, m.size);
  std::string name;
  if (!r.String(&name)) {
    PendTag(m, 0);
    return 0;
  }
  if (name == "onMetaData") {
    if (r.Properties([this](const std::string& field, Amf0Reader& v) {
          if (field == "videocodecid") has_video_ = true;
          if (field == "audiocodecid") has_audio_ = true;
          return v.Skip();
        })) {
      has_metadata_ = true;
    }
    PendTag(m, 0);
    return 0;
  }
  uint32_t skip = 0;
  if (name == "@setDataFrame") {
    skip = static_cast<uint32_t>(r.position() - m.payload);
    std::string inner;
    if (!r.String(&inner)) return AVERROR_INVALIDDATA;
  }
  PendTag(m, skip);
  return 0;
}

void RtmpPlaySession::Pend(uint8_t* begin, uint32_t size) {
  pending_ = begin;
  pending_left_ = size;
}

void RtmpPlaySession::PendTag(RtmpMessage& m, uint32_t skip) {
  uint8_t* tag = m.payload + skip - kFlvTagHeaderSize;
  const uint32_t size = m.size - skip;
  tag[0] = m.type;
  PutBe24(tag + 1, size);
  PutBe24(tag + 4, m.timestamp);
  tag[7] = static_cast<uint8_t>(m.timestamp >> 24);
  PutBe24(tag + 8, 0);
  PutBe32(m.payload + m.size, size + static_cast<uint32_t>(kFlvTagHeaderSize));
  Pend(tag, static_cast<uint32_t>(kFlvTagHeaderSize) + size + static_cast<uint32_t>(kFlvTagTrailerSize));
}

}  // namespace recfleet
