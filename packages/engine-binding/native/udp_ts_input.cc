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
}  // namespace

UdpTsInput::UdpTsInput(const ReadPolicy& policy, const AVIOInterruptCB& interrupt, int wake_fd)
    : policy_(policy), interrupt_(interrupt), wake_fd_(wake_fd) {
  slots_ = std::max<size_t>(1, static_cast<size_t>(policy.buffer_bytes) / kSlotBytes);
  buffer_.reset(new uint8_t[slots_ * kSlotBytes]);
  messages_.resize(slots_);
  vectors_.resize(slots_);
}

UdpTsInput::~UdpTsInput() {
  if (fd_ >= 0) ::close(fd_);
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
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return AVERROR(errno);
  int one = 1;
  // As libavformat: a multicast receiver shares its port with the other receivers of the group.
  if (multicast) ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rcvbuf = kReceiveBufferBytes;
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_in local = {};
  local.sin_family = AF_INET;
  local.sin_port = htons(static_cast<uint16_t>(port));
  local.sin_addr.s_addr = multicast ? group.s_addr : htonl(INADDR_ANY);
  if (::bind(fd_, reinterpret_cast<struct sockaddr*>(&local), sizeof local) < 0) return AVERROR(errno);
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
  return 0;
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
      offset_ = 0;
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
      const auto& m = messages_[current_];
      const size_t length = (m.msg_hdr.msg_flags & MSG_TRUNC) ? 0 : m.msg_len;
      if (offset_ < length) {
        const size_t n = std::min(length - offset_, static_cast<size_t>(size));
        std::memcpy(buf, buffer_.get() + current_ * kSlotBytes + offset_, n);
        offset_ += n;
        return static_cast<int>(n);
      }
      current_++;
      offset_ = 0;
    }
    int ret = Receive();
    if (ret < 0) return ret;
  }
}

}  // namespace recfleet
