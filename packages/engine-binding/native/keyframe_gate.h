// Which read packets may be written: every segment starts with a keyframe, and after a video packet
// was skipped nothing is written that references it (those frames would decode to garbage) until the
// next keyframe.
#pragma once

namespace recfleet {

class KeyframeGate {
 public:
  // Nothing until a keyframe: at a (re)join and after the muxer was rebuilt.
  void Restart() { waiting_keyframe_ = true; }
  // A packet of this stream was skipped (corrupt).
  void Skipped(bool is_video) {
    if (is_video) video_needs_keyframe_ = true;
  }
  // False: drop the packet.
  bool Admit(bool is_video, bool key, bool have_video) {
    if (video_needs_keyframe_ && is_video) {
      if (!key) return false;
      video_needs_keyframe_ = false;
    }
    if (waiting_keyframe_) {
      if (have_video && !(is_video && key)) return false;
      waiting_keyframe_ = false;
    }
    return true;
  }

 private:
  bool waiting_keyframe_ = true;
  bool video_needs_keyframe_ = false;
};

}  // namespace recfleet
