#include "recorder_object.h"

#include <memory>
#include <string>
#include <system_error>

namespace recfleet {

namespace {
std::string GetString(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}
double GetNumber(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}
bool GetBool(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : fallback;
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
  Napi::Object o = info[0].As<Napi::Object>();
  RecordingOptions opts;
  opts.recording_id = GetString(o, "recordingId");
  opts.source_url = GetString(o, "sourceUrl");
  opts.output_dir = GetString(o, "outputDir");
  opts.file_prefix = GetString(o, "filePrefix");
  opts.segment_seconds = GetNumber(o, "segmentSeconds", 10);
  opts.max_idle_seconds = GetNumber(o, "maxIdleSeconds", 30);
  std::string types = GetString(o, "streamTypes");
  opts.want_audio = types != "video";
  opts.want_video = types != "audio";
  opts.max_duration_seconds = GetNumber(o, "maxDurationSeconds", 0);
  opts.start_sequence = static_cast<int64_t>(GetNumber(o, "startSequence", 0));
  opts.discontinuity = GetBool(o, "discontinuity", false);
  opts.connect_timeout_ms = static_cast<int>(GetNumber(o, "connectTimeoutSeconds", 10) * 1000);
  opts.read_timeout_ms = static_cast<int>(GetNumber(o, "readTimeoutSeconds", 10) * 1000);
  opts.is_file = GetBool(o, "isFile", false);

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
