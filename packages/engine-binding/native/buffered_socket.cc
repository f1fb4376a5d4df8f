#include "buffered_socket.h"

extern "C" {
#include <libavutil/error.h>
}

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace recfleet {

BufferedSocket::BufferedSocket(const ReadPolicy& policy, const AVIOInterruptCB& interrupt, int wake_fd)
    : policy_(policy), interrupt_(interrupt), wake_fd_(wake_fd) {}

BufferedSocket::~BufferedSocket() {
  if (fd_ >= 0) ::close(fd_);
}

int BufferedSocket::WaitFor(short events, bool* ready) {
  *ready = false;
  for (;;) {
    if (Interrupted()) return AVERROR_EXIT;
    struct pollfd p[2] = {{fd_, events, 0}, {wake_fd_, POLLIN, 0}};
    int r = ::poll(p, wake_fd_ >= 0 ? 2 : 1, static_cast<int>(policy_.poll_interval_ms));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return AVERROR(errno);
    if (p[1].revents != 0 && Interrupted()) return AVERROR_EXIT;
    *ready = p[0].revents != 0;
    return 0;
  }
}

int BufferedSocket::ConnectTo(const struct addrinfo* ai) {
  fd_ = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd_ < 0) return AVERROR(errno);
  // The client's writes are whole messages (handshake, commands, acknowledgements): Nagle would only
  // hold each one back until the previous is acknowledged.
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd_, ai->ai_addr, ai->ai_addrlen) == 0) return 0;
  if (errno != EINPROGRESS) return AVERROR(errno);
  for (;;) {
    bool ready = false;
    int ret = WaitFor(POLLOUT, &ready);
    if (ret < 0) return ret;
    if (!ready) continue;
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return AVERROR(errno);
    return err == 0 ? 0 : AVERROR(err);
  }
}

int BufferedSocket::Connect(const std::string& host, int port) {
  struct addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  // Blocking, like libavformat's own resolution: it does not wait on the network for an address literal
  // or a name in /etc/hosts.
  int gai = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (gai != 0) return gai == EAI_MEMORY ? AVERROR(ENOMEM) : AVERROR(EIO);
  int ret = AVERROR(EIO);
  for (const struct addrinfo* ai = list; ai; ai = ai->ai_next) {
    ret = ConnectTo(ai);
    if (ret == 0 || ret == AVERROR_EXIT) break;
    ::close(fd_);
    fd_ = -1;
  }
  ::freeaddrinfo(list);
  // The buffer only for a connection that was made: a source that refuses or does not answer is retried
  // for as long as the recording waits, and each attempt would take and give back 64 KiB for nothing.
  if (ret == 0) buffer_.reset(new uint8_t[static_cast<size_t>(policy_.buffer_bytes)]);
  return ret;
}

int BufferedSocket::Send(const uint8_t* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd_, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data += n;
      size -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return AVERROR(errno);
    bool ready = false;
    int ret = WaitFor(POLLOUT, &ready);
    if (ret < 0) return ret;
  }
  return 0;
}

int BufferedSocket::WriteAll(const uint8_t* data, size_t size) {
  return tls_ ? tls_->Write(data, size) : Send(data, size);
}

int BufferedSocket::StartTls(const std::string& host) {
  raw_.reset(new uint8_t[static_cast<size_t>(policy_.buffer_bytes)]);
  TlsSession::Transport transport;
  transport.pull = [this](uint8_t* dst, size_t n) {
    n = std::min(n, raw_end_ - raw_begin_);
    std::memcpy(dst, raw_.get() + raw_begin_, n);
    raw_begin_ += n;
    return n;
  };
  transport.buffered = [this] { return raw_end_ - raw_begin_; };
  transport.receive = [this] { return Receive(raw_.get(), &raw_begin_, &raw_end_); };
  transport.send = [this](const uint8_t* data, size_t n) { return Send(data, n); };
  tls_ = std::make_unique<TlsSession>(std::move(transport));
  return tls_->Handshake(host);
}

void BufferedSocket::UseLowWaterMark() {
  if (policy_.low_water_bytes <= 1) return;
  int lowat = static_cast<int>(policy_.low_water_bytes);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat);
}

int BufferedSocket::Receive(uint8_t* buf, size_t* begin, size_t* end) {
  const size_t capacity = static_cast<size_t>(policy_.buffer_bytes);
  // What is left unconsumed is at most a partial chunk header (the parser takes payload bytes as they
  // come) or a partial TLS record: moving it to the front keeps the whole buffer for the next receive.
  if (*begin > 0) {
    std::memmove(buf, buf + *begin, *end - *begin);
    *end -= *begin;
    *begin = 0;
  }
  if (*end == capacity) return AVERROR(ENOBUFS);  // the caller consumes before it fills
  for (;;) {
    bool ready = false;
    int ret = WaitFor(POLLIN, &ready);
    if (ret < 0) return ret;
    // Also after a poll interval without the low-water mark: a stream that sends less than that in an
    // interval (audio only, or the last bytes before a stall) is read all the same, a little later.
    ssize_t n = ::recv(fd_, buf + *end, capacity - *end, MSG_DONTWAIT);
    if (n > 0) {
      *end += static_cast<size_t>(n);
      return 0;
    }
    if (n == 0) return AVERROR_EOF;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
    return AVERROR(errno);
  }
}

int BufferedSocket::Fill() {
  const size_t before = end_ - begin_;
  if (!tls_) {
    int ret = Receive(buffer_.get(), &begin_, &end_);
    if (ret < 0) return ret;
  } else {
    if (begin_ > 0) {
      std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    const size_t capacity = static_cast<size_t>(policy_.buffer_bytes);
    if (end_ == capacity) return AVERROR(ENOBUFS);
    int n = tls_->Read(buffer_.get() + end_, capacity - end_);
    if (n < 0) return n;
    end_ += static_cast<size_t>(n);
  }
  received_ += end_ - begin_ - before;
  return 0;
}

}  // namespace recfleet
