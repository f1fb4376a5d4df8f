#include "recorder_object.h"

#include <cmath>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace recfleet {

namespace {
// Every field is required: the TypeScript layer checked the options and chose every default, so a
// missing or mistyped field is a bug in that layer, reported as a TypeError that names the field, and
// never replaced by a value of the C++'s own.
[[noreturn]] void Refuse(const Napi::Object& o, const std::string& key, const char* expected) {
  throw Napi::TypeError::New(o.Env(), "NativeRecorder.start: " + key + " must be " + expected);
}

std::string RequireString(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) Refuse(o, key, "a string");
  return v.As<Napi::String>().Utf8Value();
}

double RequireNumber(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue())) Refuse(o, key, "a finite number");
  return v.As<Napi::Number>().DoubleValue();
}

int64_t RequireInteger(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(d) || std::trunc(d) != d || std::fabs(d) > 9007199254740991.0) Refuse(o, key, "an integer");
  return static_cast<int64_t>(d);
}

bool RequireBool(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) Refuse(o, key, "a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::vector<std::pair<std::string, std::string>> RequireStringMap(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsObject() || v.IsArray() || v.IsFunction()) Refuse(o, key, "an object of strings");
  Napi::Object map = v.As<Napi::Object>();
  Napi::Array names = map.GetPropertyNames();
  std::vector<std::pair<std::string, std::string>> out;
  for (uint32_t i = 0; i < names.Length(); i++) {
    std::string name = names.Get(i).ToString().Utf8Value();
    Napi::Value value = map.Get(name);
    if (!value.IsString()) Refuse(o, std::string(key) + "." + name, "a string");
    out.emplace_back(name, value.As<Napi::String>().Utf8Value());
  }
  return out;
}

// SOURCE_READERS in src/loader.ts.
SourceReader RequireReader(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  const std::string name = v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
  if (name == "libavformat") return SourceReader::kLibavformat;
  if (name == "rtmp") return SourceReader::kRtmp;
  if (name == "udp") return SourceReader::kUdp;
  if (name == "rtp") return SourceReader::kRtp;
  Refuse(o, key, "one of libavformat, rtmp, udp, rtp");
}

// The field names are those of NativeStartOptions in src/loader.ts.
RecordingOptions ReadOptions(const Napi::Object& o) {
  RecordingOptions opts;
  opts.source_url = RequireString(o, "sourceUrl");
  opts.output_dir = RequireString(o, "outputDir");
  opts.file_prefix = RequireString(o, "filePrefix");
  opts.input_options = RequireStringMap(o, "inputOptions");
  opts.is_file = RequireBool(o, "isFile");
  opts.ends_at_known_duration = RequireBool(o, "endsAtKnownDuration");
  opts.want_audio = RequireBool(o, "wantAudio");
  opts.want_video = RequireBool(o, "wantVideo");
  opts.segment_seconds = RequireNumber(o, "segmentSeconds");
  opts.max_idle_seconds = RequireNumber(o, "maxIdleSeconds");
  opts.max_duration_seconds = RequireNumber(o, "maxDurationSeconds");
  opts.start_sequence = RequireInteger(o, "startSequence");
  opts.discontinuity = RequireBool(o, "discontinuity");
  opts.align_to_source = RequireBool(o, "alignToSource");
  opts.gap_seconds = RequireNumber(o, "gapSeconds");
  opts.connect_timeout_ms = RequireInteger(o, "connectTimeoutMs");
  opts.read_timeout_ms = RequireInteger(o, "readTimeoutMs");
  opts.min_connect_attempt_ms = RequireInteger(o, "minConnectAttemptMs");
  opts.heap_trim_interval_ms = RequireInteger(o, "heapTrimIntervalMs");
  opts.resolve_host = RequireString(o, "resolveHost");
  opts.unanswered_open_unreached = RequireBool(o, "unansweredOpenUnreached");
  opts.read.reader = RequireReader(o, "sourceReader");
  opts.read.buffer_bytes = RequireInteger(o, "readBufferBytes");
  opts.read.low_water_bytes = RequireInteger(o, "readLowWaterBytes");
  opts.read.poll_interval_ms = RequireInteger(o, "readPollIntervalMs");
  opts.reconnect.initial_delay_ms = RequireInteger(o, "reconnectInitialDelayMs");
  opts.reconnect.max_delay_ms = RequireInteger(o, "reconnectMaxDelayMs");
  opts.reconnect.backoff_factor = RequireNumber(o, "reconnectBackoffFactor");
  opts.reports.reconnect_report_every = RequireInteger(o, "reconnectReportEvery");
  opts.reports.corrupt_report_interval_ms = RequireInteger(o, "corruptReportIntervalMs");
  opts.timeline.start_seconds = RequireNumber(o, "timelineStartSeconds");
  opts.timeline.gap_seconds = RequireNumber(o, "timelineGapSeconds");
  opts.timeline.jump_back_seconds = RequireNumber(o, "clockJumpBackSeconds");
  opts.timeline.jump_forward_seconds = RequireNumber(o, "clockJumpForwardSeconds");
  return opts;
}
}  // namespace

Napi::Function RecorderObject::Define(Napi::Env env) {
  return DefineClass(env, "NativeRecorder",
                     {InstanceMethod("start", &RecorderObject::Start), InstanceMethod("stop", &RecorderObject::Stop),
                      InstanceMethod("cancel", &RecorderObject::Cancel),
                      InstanceMethod("join", &RecorderObject::Join)});
}

RecorderObject::RecorderObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RecorderObject>(info) {
  if (info.Length() < 1 || !info[0].IsFunction()) {
    Napi::TypeError::New(info.Env(), "NativeRecorder needs an event callback").ThrowAsJavaScriptException();
    return;
  }
  on_event_ = Napi::Persistent(info[0].As<Napi::Function>());
}

RecorderObject::~RecorderObject() {
  // Collected without release(): abandon the recording rather than leak a thread.
  if (loop_) loop_->RequestCancel();
  if (thread_.joinable()) thread_.join();
}

Napi::Value RecorderObject::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (loop_) {
    Napi::Error::New(env, "already started").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "start needs an options object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // Options were validated by the TypeScript layer; here they are only copied.
  RecordingOptions opts = ReadOptions(info[0].As<Napi::Object>());

  Napi::ThreadSafeFunction tsfn =
      Napi::ThreadSafeFunction::New(env, on_event_.Value(), "recfleet-recorder-events", 0, 1);
  // The queue is unbounded so the recording thread never waits on the event loop; events are few
  // (a segment every few seconds) and small.
  auto emit = [tsfn](std::string json) mutable {
    auto* data = new std::string(std::move(json));
    napi_status status = tsfn.BlockingCall(data, [](Napi::Env env, Napi::Function cb, std::string* d) {
      std::unique_ptr<std::string> owned(d);
      if (env != nullptr && cb != nullptr) cb.Call({Napi::String::New(env, *owned)});
    });
    if (status != napi_ok) delete data;  // the environment is going away
  };
  std::shared_ptr<RecordingLoop> loop = std::make_shared<RecordingLoop>(std::move(opts), emit);
  try {
    thread_ = std::thread([loop, tsfn]() mutable {
      loop->Run();
      // Last use of the function: lets the process exit once every recorder has ended.
      tsfn.Release();
    });
  } catch (const std::system_error& e) {
    tsfn.Release();
    throw Napi::Error::New(env, std::string("cannot start the recording thread: ") + e.what());
  }
  loop_ = loop;
  return env.Undefined();
}

Napi::Value RecorderObject::Stop(const Napi::CallbackInfo& info) {
  if (loop_) loop_->RequestStop();
  return info.Env().Undefined();
}

Napi::Value RecorderObject::Cancel(const Napi::CallbackInfo& info) {
  if (loop_) loop_->RequestCancel();
  return info.Env().Undefined();
}

// Called by the wrapper once the final event has arrived: the thread is then at its very end, so the
// join does not block the event loop.
Napi::Value RecorderObject::Join(const Napi::CallbackInfo& info) {
  if (thread_.joinable()) thread_.join();
  return info.Env().Undefined();
}

}  // namespace recfleet
