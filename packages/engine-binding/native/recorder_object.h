// The JavaScript-facing recorder object. It copies options into a plain struct on the main thread,
// runs RecordingLoop on a std::thread, and posts the loop's events back through a thread-safe function.
#pragma once

#include <napi.h>

#include <memory>
#include <thread>

#include "recording_loop.h"

namespace recfleet {

class RecorderObject : public Napi::ObjectWrap<RecorderObject> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit RecorderObject(const Napi::CallbackInfo& info);
  ~RecorderObject() override;

 private:
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Join(const Napi::CallbackInfo& info);

  Napi::FunctionReference on_event_;
  std::shared_ptr<RecordingLoop> loop_;
  std::thread thread_;
};

}  // namespace recfleet
