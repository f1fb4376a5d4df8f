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
//
// rtp:// is the same with an RTP header in front of each datagram's MPEG-TS (payload type 33, what
// `-f rtp_mpegts` sends; libavformat's RTP input polls its RTP and RTCP sockets and receives once per
// datagram: ~630 poll + 315 recvfrom a second). The header is taken off and a repeated sequence number
// dropped; nothing is reordered (libavformat's RTP queue would, for MPEG-TS, only after a gap). The RTCP
// port (the next one) is bound and left unread, as a receiver that sends no reports. The first datagram
// decides: another payload type is libavformat's to read (Open returns kReadWithLibavformat).
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
  // `rtp`: the datagrams are RTP packets of MPEG-TS (rtp://).
  UdpTsInput(const ReadPolicy& policy, const AVIOInterruptCB& interrupt, int wake_fd, bool rtp);
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
  // Where the MPEG-TS of datagram `i` is: all of it for UDP, after the RTP header for RTP (false: skip it).
  bool Payload(size_t i, size_t* offset, size_t* length);

  const ReadPolicy policy_;
  const AVIOInterruptCB interrupt_;
  const int wake_fd_;
  const bool rtp_;
  int fd_ = -1;
  int rtcp_fd_ = -1;
  int last_sequence_ = -1;
  size_t slots_ = 0;
  std::unique_ptr<uint8_t[]> buffer_;
  std::vector<::mmsghdr> messages_;
  std::vector<::iovec> vectors_;
  size_t count_ = 0;     // datagrams of the last batch
  size_t current_ = 0;   // the one being read
  bool fresh_ = true;    // the current datagram's payload is not looked up yet
  size_t position_ = 0;  // its next byte to read
  size_t end_ = 0;       // the end of its payload
  bool emptied_ = false;  // the last batch emptied the socket: pace the next one
};

}  // namespace recfleet
