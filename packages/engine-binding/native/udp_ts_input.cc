#include "udp_ts_input.h"

extern "C" {
#include <libavformat/avformat.h>
#include <libavutil/error.h>
}

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace recfleet {

namespace {
constexpr size_t kSlotBytes = 1536;
constexpr int kReceiveBufferBytes = 384 * 1024;  // libavformat's UDP_RX_BUF_SIZE
constexpr int kMpegTsPayloadType = 33;
constexpr size_t kRtpHeaderSize = 12;

// The MPEG-TS in an RTP packet: after the fixed header, the CSRCs and an extension; before the padding.
bool RtpPayload(const uint8_t* d, size_t n, size_t* offset, size_t* length, uint16_t* sequence, int* type) {
  if (n < kRtpHeaderSize || (d[0] >> 6) != 2) return false;
  size_t begin = kRtpHeaderSize + 4 * static_cast<size_t>(d[0] & 0x0f);
  if ((d[0] & 0x10) != 0) {
    if (n < begin + 4) return false;
    begin += 4 + 4 * (static_cast<size_t>(d[begin + 2]) << 8 | d[begin + 3]);
  }
  size_t end = n;
  if ((d[0] & 0x20) != 0 && n > 0) end = d[n - 1] <= n ? n - d[n - 1] : 0;
  if (begin >= end) return false;
  *offset = begin;
  *length = end - begin;
  *sequence = static_cast<uint16_t>(d[2] << 8 | d[3]);
  *type = d[1] & 0x7f;
  return true;
}

int BindUdp(const struct in_addr& address, bool multicast, int port, int* fd) {
  *fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (*fd < 0) return AVERROR(errno);
  int one = 1;
  // As libavformat: a multicast receiver shares its port with the other receivers of the group.
  if (multicast) ::setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in local = {};
  local.sin_family = AF_INET;
  local.sin_port = htons(static_cast<uint16_t>(port));
  local.sin_addr.s_addr = multicast ? address.s_addr : htonl(INADDR_ANY);
  if (::bind(*fd, reinterpret_cast<struct sockaddr*>(&local), sizeof local) < 0) return AVERROR(errno);
  return 0;
}
}  // namespace

UdpTsInput::UdpTsInput(const ReadPolicy& policy, const AVIOInterruptCB& interrupt, int wake_fd, bool rtp)
    : policy_(policy), interrupt_(interrupt), wake_fd_(wake_fd), rtp_(rtp) {
  slots_ = std::max<size_t>(1, static_cast<size_t>(policy.buffer_bytes) / kSlotBytes);
  buffer_.reset(new uint8_t[slots_ * kSlotBytes]);
  messages_.resize(slots_);
  vectors_.resize(slots_);
}

UdpTsInput::~UdpTsInput() {
  if (fd_ >= 0) ::close(fd_);
  if (rtcp_fd_ >= 0) ::close(rtcp_fd_);
}

int UdpTsInput::Join(const std::string& url, std::string*) {
  char proto[16], auth[256], host[256], path[1024];
  int port = -1;
  av_url_split(proto, sizeof proto, auth, sizeof auth, host, sizeof host, &port, path, sizeof path, url.c_str());
  if (port <= 0 || port > 65535) return AVERROR(EINVAL);
  struct in_addr group = {};
  bool multicast = false;
  if (host[0] != '\0') {
    if (inet_pton(AF_INET, host, &group) != 1) return AVERROR(EINVAL);  // names and IPv6: libavformat's
    multicast = IN_MULTICAST(ntohl(group.s_addr));
  }
  int ret = BindUdp(group, multicast, port, &fd_);
  if (ret < 0) return ret;
  int rcvbuf = kReceiveBufferBytes;
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (rtp_ && port < 65535 && (ret = BindUdp(group, multicast, port + 1, &rtcp_fd_)) < 0) return ret;
  if (multicast) {
    struct ip_mreq membership = {};
    membership.imr_multiaddr = group;
    membership.imr_interface.s_addr = htonl(INADDR_ANY);
    if (::setsockopt(fd_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &membership, sizeof membership) < 0) return AVERROR(errno);
  }
  for (size_t i = 0; i < slots_; i++) {
    vectors_[i].iov_base = buffer_.get() + i * kSlotBytes;
    vectors_[i].iov_len = kSlotBytes;
    std::memset(&messages_[i], 0, sizeof messages_[i]);
    messages_[i].msg_hdr.msg_iov = &vectors_[i];
    messages_[i].msg_hdr.msg_iovlen = 1;
  }
  if (!rtp_) return 0;
  // The first packet tells what the stream carries.
  if ((ret = Receive()) < 0) return ret;
  size_t offset = 0, length = 0;
  uint16_t sequence = 0;
  int type = -1;
  for (size_t i = 0; i < count_ && type < 0; i++) {
    if (!RtpPayload(buffer_.get() + i * kSlotBytes, messages_[i].msg_len, &offset, &length, &sequence, &type)) {
      type = -1;
    }
  }
  return type == kMpegTsPayloadType || type < 0 ? 0 : kReadWithLibavformat;
}

bool UdpTsInput::Payload(size_t i, size_t* offset, size_t* length) {
  const auto& m = messages_[i];
  if (m.msg_hdr.msg_flags & MSG_TRUNC) return false;
  if (!rtp_) {
    *offset = 0;
    *length = m.msg_len;
    return true;
  }
  uint16_t sequence = 0;
  int type = 0;
  if (!RtpPayload(buffer_.get() + i * kSlotBytes, m.msg_len, offset, length, &sequence, &type)) return false;
  if (type != kMpegTsPayloadType || sequence == last_sequence_) return false;
  last_sequence_ = sequence;
  return true;
}

int UdpTsInput::Wait(bool for_data) {
  struct pollfd p[2];
  nfds_t n = 0;
  if (wake_fd_ >= 0) p[n++] = {wake_fd_, POLLIN, 0};
  if (for_data) p[n++] = {fd_, POLLIN, 0};
  if (::poll(p, n, static_cast<int>(policy_.poll_interval_ms)) < 0 && errno != EINTR) return AVERROR(errno);
  return Interrupted() ? AVERROR_EXIT : 0;
}

int UdpTsInput::Receive() {
  // The socket was emptied last time: what comes within one interval is read as one batch.
  if (emptied_) {
    int ret = Wait(false);
    if (ret < 0) return ret;
  }
  for (;;) {
    if (Interrupted()) return AVERROR_EXIT;
    for (size_t i = 0; i < slots_; i++) messages_[i].msg_hdr.msg_flags = 0;
    int n = ::recvmmsg(fd_, messages_.data(), static_cast<unsigned>(slots_), MSG_DONTWAIT, nullptr);
    if (n > 0) {
      count_ = static_cast<size_t>(n);
      current_ = 0;
      fresh_ = true;
      emptied_ = count_ < slots_;
      return 0;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return AVERROR(errno);
    int ret = Wait(true);
    if (ret < 0) return ret;
  }
}

int UdpTsInput::Read(uint8_t* buf, int size) {
  for (;;) {
    while (current_ < count_) {
      if (fresh_) {
        size_t at = 0, length = 0;
        if (!Payload(current_, &at, &length)) length = 0;
        position_ = at;
        end_ = at + length;
        fresh_ = false;
      }
      if (position_ < end_) {
        const size_t n = std::min(end_ - position_, static_cast<size_t>(size));
        std::memcpy(buf, buffer_.get() + current_ * kSlotBytes + position_, n);
        position_ += n;
        return static_cast<int>(n);
      }
      current_++;
      fresh_ = true;
    }
    int ret = Receive();
    if (ret < 0) return ret;
  }
}

}  // namespace recfleet
