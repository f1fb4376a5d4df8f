// A udp:// source (MPEG-TS in datagrams, as encoders and multicast headends send it) for libavformat's
// MPEG-TS demuxer. libavformat's UDP protocol receives every datagram with its own recvfrom on a thread
// of its own and wakes the reader through a condition variable for each (~360 recvfrom + 360 futex a
// second for a 3 Mbit/s stream), into a 5 MiB circular buffer per source. Here the recording's own thread
// takes the datagrams in batches (recvmmsg) and, once it has emptied the socket, sleeps one poll
// interval before the next batch: a handful of system calls a second, and the kernel's socket buffer
// (384 KiB asked, as libavformat asks) holds what arrives meanwhile.
//
// The URL forms are libavformat's for reading: `udp://@:port` or `udp://:port` (any local address),
// `udp://host:port` (a unicast host is only where the sender is: the socket binds to the port on every
// address), `udp://group:port` for an IPv4 multicast group (joined; the socket binds to the group).
// URLs with options (`?localaddr=…`, `?sources=…`, …) and IPv6 stay with libavformat (src/native-options.ts).
// A datagram longer than a receive slot (1536 bytes: every MPEG-TS sender's 1316–1472) is dropped whole;
// the demuxer sees the gap as it sees a lost datagram.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <vector>

extern "C" {
#include <libavformat/avio.h>
}

#include "recording_options.h"
#include "source_input.h"

namespace recfleet {

class UdpTsInput : public SourceInput {
 public:
  UdpTsInput(const ReadPolicy& policy, const AVIOInterruptCB& interrupt, int wake_fd);
  ~UdpTsInput() override;

 protected:
  // Binds (and joins the group). 0, AVERROR(EINVAL) for a URL without a port, or the socket's AVERROR.
  int Join(const std::string& url, std::string* detail) override;
  int Read(uint8_t* buf, int size) override;

 private:
  bool Interrupted() const { return interrupt_.callback && interrupt_.callback(interrupt_.opaque); }
  // Waits one poll interval on the wake fd (and, when `for_data`, on the socket too).
  int Wait(bool for_data);
  int Receive();

  const ReadPolicy policy_;
  const AVIOInterruptCB interrupt_;
  const int wake_fd_;
  int fd_ = -1;
  size_t slots_ = 0;
  std::unique_ptr<uint8_t[]> buffer_;
  std::vector<::mmsghdr> messages_;
  std::vector<::iovec> vectors_;
  size_t count_ = 0;     // datagrams of the last batch
  size_t current_ = 0;   // the one being read
  size_t offset_ = 0;    // bytes of it already read
  bool emptied_ = false;  // the last batch emptied the socket: pace the next one
};

}  // namespace recfleet
