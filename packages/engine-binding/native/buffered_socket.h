// A TCP connection read through one large user-space buffer, for the engine's own source readers
// (rtmp_play_session.h). libavformat's tcp context is unbuffered and its RTMP client reads every chunk
// header field on its own, each read preceded by a poll for the interrupt check: ~460 poll + 460 recvfrom
// a second for one 3 Mbit/s stream. Here a read takes everything the kernel has (up to the buffer), and
// once media flows the socket's low-water mark (SO_RCVLOWAT) keeps the thread asleep until a worthwhile
// amount has arrived, so a stream costs a handful of large reads a second.
//
// Every wait is a poll of at most `poll_interval_ms`, between which the interrupt callback is asked (the
// read deadline), as libavformat's own network code does; the poll also watches `wake_fd`, which the
// recording makes readable at stop/cancel, so a stop does not wait for the interval to pass.
#pragma once

extern "C" {
#include <libavformat/avio.h>
}

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "recording_options.h"
#include "tls_session.h"

struct addrinfo;

namespace recfleet {

class BufferedSocket {
 public:
  BufferedSocket(const ReadPolicy& policy, const AVIOInterruptCB& interrupt, int wake_fd);
  ~BufferedSocket();
  BufferedSocket(const BufferedSocket&) = delete;
  BufferedSocket& operator=(const BufferedSocket&) = delete;

  // Resolves and connects (each address in turn). 0, or an AVERROR: that of the last address tried,
  // AVERROR_EXIT when interrupted.
  int Connect(const std::string& host, int port);
  // From now on the connection is TLS (rtmps://): handshakes, then Fill() and WriteAll() decrypt and
  // encrypt. 0 or an AVERROR. Only where TlsSession::Available().
  int StartTls(const std::string& host);
  // Sends all of it. 0 or an AVERROR.
  int WriteAll(const uint8_t* data, size_t size);

  // Received bytes not consumed yet.
  const uint8_t* data() const { return buffer_.get() + begin_; }
  size_t size() const { return end_ - begin_; }
  void Consume(size_t n) { begin_ += n; }
  // Waits for and receives more bytes (at least one). 0, AVERROR_EOF when the peer closed (FIN),
  // AVERROR_EXIT when interrupted, or the socket's error (AVERROR(ECONNRESET), …).
  int Fill();
  // From now on, sleep until this much has arrived (or a poll interval has passed): set once the
  // stream's media flows, since the small replies of the handshake and the commands would each wait a
  // whole interval otherwise.
  void UseLowWaterMark();
  // Bytes received since the connection opened (decrypted ones under TLS: those are what RTMP counts
  // in its acknowledgements), modulo 2^32 as the protocol counts them.
  uint32_t bytes_received() const { return static_cast<uint32_t>(received_); }

 private:
  bool Interrupted() const { return interrupt_.callback && interrupt_.callback(interrupt_.opaque); }
  // Waits until `events` are ready on the socket, or one poll interval has passed (returns 0 then).
  int WaitFor(short events, bool* ready);
  int ConnectTo(const ::addrinfo* ai);
  // Receives what the kernel has into [buf + end, buf + capacity), after moving [begin, end) to the front.
  int Receive(uint8_t* buf, size_t* begin, size_t* end);
  int Send(const uint8_t* data, size_t size);

  const ReadPolicy policy_;
  const AVIOInterruptCB interrupt_;
  const int wake_fd_;
  int fd_ = -1;
  std::unique_ptr<uint8_t[]> buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
  uint64_t received_ = 0;
  // Under TLS: the ciphertext, received here and pulled from by the session.
  std::unique_ptr<TlsSession> tls_;
  std::unique_ptr<uint8_t[]> raw_;
  size_t raw_begin_ = 0;
  size_t raw_end_ = 0;
};

}  // namespace recfleet
