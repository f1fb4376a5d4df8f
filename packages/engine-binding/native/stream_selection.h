// Which of a joined source's streams are recorded: the best video and the best audio stream the options
// ask for, each of a codec MPEG-TS can carry by stream copy.
#pragma once

extern "C" {
#include <libavformat/avformat.h>
}

#include <string>
#include <vector>

namespace recfleet {

struct StreamMap {
  int input_index;
  int output_index;
  bool is_video;
};

struct StreamSelection {
  std::vector<StreamMap> map;  // output order: video first
  std::vector<const AVCodecParameters*> params;  // per output stream, owned by the input context
  std::vector<std::string> layout;  // codec signature per output stream: a change needs a new muxer
  std::string streams_json;  // the `started` event's streams
  bool have_video = false;

  const StreamMap* Find(int input_index) const;
};

// Fills `out` from the input's streams; on failure returns false with a fatal code and a message.
bool SelectStreams(AVFormatContext* ic, bool want_audio, bool want_video, StreamSelection* out,
                   const char** code, std::string* message);

// The codec configuration a packet brings in-band (AV_PKT_DATA_NEW_EXTRADATA), or null.
const uint8_t* NewExtradata(const AVPacket* pkt, size_t* size);

// A video packet that brings new codec configuration in-band (AV_PKT_DATA_NEW_EXTRADATA): the FLV demuxer
// leaves the stream's width and height as they were at the join (it reads onMetaData's only with
// `flv_metadata`), so they are read from the new configuration and the packet with the codec's parser
// and written into `st->codecpar`, for the rebuilt muxer and the stream change's event. Nothing is
// changed where the parser cannot tell.
void RefreshPictureSize(AVStream* st, const AVPacket* pkt);

// The selected streams as the input describes them now, for the `started` event and a stream change
// (the FLV demuxer takes a new resolution from the publisher's onMetaData).
std::string StreamsJson(const AVFormatContext* ic, const StreamSelection& selection);

}  // namespace recfleet
