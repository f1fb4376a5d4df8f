// The engine's RTMP player: one connection that plays one stream, read through BufferedSocket, and
// turned into the FLV byte stream libavformat's FLV demuxer reads (rtmp_flv_input.h gives it to the
// demuxer as a custom AVIOContext). It does what libavformat's client does for a live play — handshake,
// connect / createStream / play with the URL's app, tcUrl and stream name (query included), a Window
// Acknowledgement Size of its own, acknowledgements every window, ping responses, Set Chunk Size and
// Abort from the server — and nothing of the rest (publishing, seeking, RTMPT/RTMPE tunnels, Adobe or
// Limelight authentication, SWF verification: such URLs stay with libavformat, see src/native-options.ts).
//
// Errors are libavformat's: a refused play (an error status, or node-media-server's way of closing the
// connection right after the play command) fails the open with AVERROR(EIO); a connection that ends
// while playing is AVERROR(EIO) too, an end of play the server announces (NetStream.Play.Stop,
// UnpublishNotify) AVERROR_EOF, and an interrupted wait AVERROR_EXIT.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "buffered_socket.h"
#include "rtmp_chunk_stream.h"
#include "rtmp_url.h"

namespace recfleet {

class RtmpPlaySession {
 public:
  RtmpPlaySession(const ReadPolicy& policy, const AVIOInterruptCB& interrupt, int wake_fd);

  // Connects, plays, and reads up to the stream's first media or metadata (which decides the FLV
  // header). 0 or an AVERROR; `detail` may then say what the server answered (a status code).
  int Open(const RtmpUrl& url, std::string* detail);
  // The FLV stream: its header, then one tag per media or data message. Bytes copied (> 0) or an AVERROR.
  int Read(uint8_t* buf, int size);
  // Whether Open got as far as a TCP connection to the server (whatever happened after it).
  bool connected() const { return connected_; }

 private:
  int Handshake();
  int SendCommand(uint32_t chunk_stream, uint32_t stream_id, const std::vector<uint8_t>& payload);
  int SendControl(uint8_t type, const std::vector<uint8_t>& payload);
  // Reads messages, answering what the protocol asks for, until one for the FLV stream is ready
  // (`pending_` is set) or, while opening, until `until_reply` (a transaction id) is answered.
  int Pump(double until_reply = 0);
  int OnControl(const RtmpMessage& m);
  int OnCommand(const RtmpMessage& m, double until_reply, bool* replied);
  int OnMetadata(RtmpMessage& m);
  void Pend(uint8_t* begin, uint32_t size);
  void PendTag(RtmpMessage& m, uint32_t skip);

  BufferedSocket socket_;
  ChunkReader chunks_;
  std::string detail_;
  double transaction_ = 0;
  double stream_id_ = 0;
  uint32_t ack_window_ = 0;  // 0: the server asked for no acknowledgements
  uint32_t acked_ = 0;
  bool stopped_ = false;
  bool connected_ = false;
  bool has_audio_ = false;
  bool has_video_ = false;
  bool has_metadata_ = false;
  uint8_t header_[13] = {};
  uint32_t header_left_ = 0;
  // The ready FLV bytes (a tag in its message's own buffer) not yet read.
  const uint8_t* pending_ = nullptr;
  uint32_t pending_left_ = 0;
  std::vector<uint8_t> out_;
};

}  // namespace recfleet
