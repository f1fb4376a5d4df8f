// RTMP's chunk layer, both ways: ChunkReader reassembles the messages a server interleaves over its
// chunk streams, straight out of BufferedSocket's buffer; WriteMessage splits one of ours into chunks.
// The header rules are those of the specification as libavformat's client applies them (a type 3 chunk
// that starts a message repeats the previous delta; a continuation chunk of a message with an extended
// timestamp carries it again).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "buffered_socket.h"

namespace recfleet {

// Room kept in front of every message's payload and behind it, so that a media message becomes an FLV
// tag (11-byte header, payload, 4-byte size) in place, without a copy.
inline constexpr size_t kFlvTagHeaderSize = 11;
inline constexpr size_t kFlvTagTrailerSize = 4;

struct RtmpMessage {
  uint32_t chunk_stream = 0;
  uint8_t type = 0;
  uint32_t timestamp = 0;
  uint32_t stream_id = 0;
  uint32_t size = 0;
  // The payload, `size` bytes, with kFlvTagHeaderSize writable bytes before it and kFlvTagTrailerSize
  // after. Valid until the next call of ChunkReader::Next.
  uint8_t* payload = nullptr;
};

class ChunkReader {
 public:
  explicit ChunkReader(BufferedSocket* socket) : socket_(socket) {}
  // The next complete message. 0, or the socket's AVERROR, or AVERROR_INVALIDDATA for a broken stream.
  int Next(RtmpMessage* message);
  // Set Chunk Size from the server.
  void set_chunk_size(uint32_t size) { chunk_size_ = size; }
  // Abort Message from the server: the partial message of that chunk stream is dropped.
  void Abort(uint32_t chunk_stream);

 private:
  struct ChunkStream {
    uint32_t timestamp = 0;
    uint32_t timestamp_field = 0;  // the last message's 24-bit field: a delta, or 0xffffff
    uint32_t length = 0;
    uint8_t type = 0;
    uint32_t stream_id = 0;
    bool active = false;  // a message is being reassembled
    uint32_t filled = 0;
    std::unique_ptr<uint8_t[]> buffer;
    size_t capacity = 0;
  };
  // Parses one chunk header from the socket's buffer if it is all there; 1 done, 0 needs more bytes.
  int ParseHeader();
  int Fill();

  BufferedSocket* socket_;
  uint32_t chunk_size_ = 128;
  std::unordered_map<uint32_t, ChunkStream> streams_;
  ChunkStream* body_ = nullptr;  // the chunk stream whose chunk payload is being read
  ChunkStream* delivered_ = nullptr;  // the chunk stream of the message Next returned last
  uint32_t body_csid_ = 0;
  uint32_t body_left_ = 0;  // payload bytes left in the current chunk
};

// Appends `payload` as one message in chunks of 128 bytes (the size a client that never sends Set Chunk
// Size has), with a type 0 header and type 3 continuations.
void WriteMessage(std::vector<uint8_t>* out, uint32_t chunk_stream, uint8_t type, uint32_t stream_id,
                  const std::vector<uint8_t>& payload);

}  // namespace recfleet
