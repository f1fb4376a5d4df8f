#include "stream_selection.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/mem.h>
}

#include <cstdio>
#include <cstring>

#include "event_json.h"
#include "generated/vocabulary.h"

namespace recfleet {

namespace {
// Codecs the MPEG-TS muxer can carry by stream copy.
bool TsCanCarry(AVCodecID id) {
  switch (id) {
    case AV_CODEC_ID_H264:
    case AV_CODEC_ID_HEVC:
    case AV_CODEC_ID_MPEG2VIDEO:
    case AV_CODEC_ID_MPEG1VIDEO:
    case AV_CODEC_ID_MPEG4:
    case AV_CODEC_ID_AAC:
    case AV_CODEC_ID_AAC_LATM:
    case AV_CODEC_ID_MP2:
    case AV_CODEC_ID_MP3:
    case AV_CODEC_ID_AC3:
    case AV_CODEC_ID_EAC3:
    case AV_CODEC_ID_OPUS:
      return true;
    default:
      return false;
  }
}

int Channels(const AVCodecParameters* par) {
#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 28, 100)
  return par->ch_layout.nb_channels;
#else
  return par->channels;
#endif
}

std::string Signature(const AVCodecParameters* par) {
  char buf[160];
  snprintf(buf, sizeof buf, "%d:%d:%dx%d:%d:%d:%d", par->codec_type, par->codec_id, par->width, par->height,
           par->sample_rate, Channels(par), par->extradata_size);
  return buf;
}

std::string StreamJson(const AVStream* st, const AVCodecParameters* par, int64_t output_index, bool is_video) {
  EventJson s("stream");
  s.integer("index", output_index)
      .str("kind", is_video ? "video" : "audio")
      .str("codec", avcodec_get_name(par->codec_id));
  if (is_video) {
    s.integer("width", par->width).integer("height", par->height);
    AVRational fr = st->avg_frame_rate;
    if (fr.num > 0 && fr.den > 0) s.num("frameRate", av_q2d(fr));
  } else {
    s.integer("sampleRate", par->sample_rate).integer("channels", Channels(par));
  }
  return s.done();
}
}  // namespace

const StreamMap* StreamSelection::Find(int input_index) const {
  const StreamMap* found = nullptr;
  for (const auto& m : map) {
    if (m.input_index == input_index) found = &m;
  }
  return found;
}

bool SelectStreams(AVFormatContext* ic, bool want_audio, bool want_video, StreamSelection* out,
                   const char** code, std::string* message) {
  int v = want_video ? av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0) : -1;
  int a = want_audio ? av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0) : -1;
  if (v < 0 && a < 0) {
    *code = fatal_codes::kNoMedia;
    *message = "the source has no selected audio or video stream";
    return false;
  }
  for (int idx : {v, a}) {
    if (idx < 0) continue;
    const AVCodecParameters* par = ic->streams[idx]->codecpar;
    if (!TsCanCarry(par->codec_id)) {
      *code = fatal_codes::kUnsupportedCodec;
      *message = std::string("codec ") + avcodec_get_name(par->codec_id) + " cannot be recorded to MPEG-TS";
      return false;
    }
    bool is_video = par->codec_type == AVMEDIA_TYPE_VIDEO;
    int output_index = static_cast<int>(out->params.size());
    out->map.push_back(StreamMap{idx, output_index, is_video});
    out->params.push_back(par);
    out->layout.push_back(Signature(par));
  }
  out->streams_json = StreamsJson(ic, *out);
  out->have_video = v >= 0;
  return true;
}

const uint8_t* NewExtradata(const AVPacket* pkt, size_t* size) {
#if LIBAVCODEC_VERSION_MAJOR >= 59
  return av_packet_get_side_data(pkt, AV_PKT_DATA_NEW_EXTRADATA, size);
#else
  int isize = 0;
  const uint8_t* data = av_packet_get_side_data(pkt, AV_PKT_DATA_NEW_EXTRADATA, &isize);
  *size = isize > 0 ? static_cast<size_t>(isize) : 0;
  return data;
#endif
}

void RefreshPictureSize(AVStream* st, const AVPacket* pkt) {
  AVCodecParameters* par = st->codecpar;
  size_t size = 0;
  const uint8_t* extradata = NewExtradata(pkt, &size);
  if (par->codec_type != AVMEDIA_TYPE_VIDEO || !extradata || size == 0) return;
  AVCodecParserContext* parser = av_parser_init(par->codec_id);
  AVCodecContext* ctx = parser ? avcodec_alloc_context3(nullptr) : nullptr;
  if (ctx) {
    ctx->codec_type = AVMEDIA_TYPE_VIDEO;
    ctx->codec_id = par->codec_id;
    ctx->extradata = static_cast<uint8_t*>(av_mallocz(size + AV_INPUT_BUFFER_PADDING_SIZE));
    if (ctx->extradata) {
      std::memcpy(ctx->extradata, extradata, size);
      ctx->extradata_size = static_cast<int>(size);
      // One packet is one frame here: the parser reads its NAL units instead of looking for frame ends.
      parser->flags |= PARSER_FLAG_COMPLETE_FRAMES;
      uint8_t* out = nullptr;
      int out_size = 0;
      av_parser_parse2(parser, ctx, &out, &out_size, pkt->data, pkt->size, pkt->pts, pkt->dts, pkt->pos);
      if (parser->width > 0 && parser->height > 0) {
        par->width = parser->width;
        par->height = parser->height;
      }
    }
  }
  avcodec_free_context(&ctx);  // frees the extradata too
  if (parser) av_parser_close(parser);
}

std::string StreamsJson(const AVFormatContext* ic, const StreamSelection& selection) {
  std::string json = "[";
  for (const StreamMap& m : selection.map) {
    if (json.size() > 1) json += ",";
    json += StreamJson(ic->streams[m.input_index], ic->streams[m.input_index]->codecpar, m.output_index, m.is_video);
  }
  return json + "]";
}

}  // namespace recfleet
