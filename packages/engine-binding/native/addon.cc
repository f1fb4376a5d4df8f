// Module entry: the recorder class and process-wide counters.
#include <napi.h>

extern "C" {
#include <libavformat/avformat.h>
#include <libavutil/log.h>
}

#include "counters.h"
#include "recorder_object.h"
#include "tls_session.h"

namespace recfleet {

std::atomic<int64_t> Counters::active_recorders{0};
std::atomic<int64_t> Counters::threads{0};
std::atomic<int64_t> Counters::bytes_written{0};
std::atomic<int64_t> Counters::packets_written{0};
std::atomic<int64_t> Counters::packets_dropped{0};
std::atomic<int64_t> Counters::zero_bytes_released{0};
std::atomic<int64_t> Counters::heap_trims{0};

namespace {
Napi::Value GetCounters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("activeRecorders", Napi::Number::New(env, static_cast<double>(Counters::active_recorders.load())));
  o.Set("threads", Napi::Number::New(env, static_cast<double>(Counters::threads.load())));
  o.Set("bytesWritten", Napi::Number::New(env, static_cast<double>(Counters::bytes_written.load())));
  o.Set("packetsWritten", Napi::Number::New(env, static_cast<double>(Counters::packets_written.load())));
  o.Set("packetsDropped", Napi::Number::New(env, static_cast<double>(Counters::packets_dropped.load())));
  o.Set("zeroBytesReleased", Napi::Number::New(env, static_cast<double>(Counters::zero_bytes_released.load())));
  o.Set("heapTrims", Napi::Number::New(env, static_cast<double>(Counters::heap_trims.load())));
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // FFmpeg's own logging would write to the worker's stderr from every recording thread; the engine
  // reports what matters as events instead.
  av_log_set_level(AV_LOG_QUIET);
  avformat_network_init();
  exports.Set("NativeRecorder", RecorderObject::Define(env));
  exports.Set("counters", Napi::Function::New(env, GetCounters));
  // Whether this build reads rtmps:// itself (it was built with GnuTLS): src/native-options.ts asks.
  exports.Set("rtmpsReader", Napi::Boolean::New(env, TlsSession::Available()));
  return exports;
}
}  // namespace

NODE_API_MODULE(recfleet_recorder, Init)

}  // namespace recfleet
