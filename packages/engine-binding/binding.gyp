{
  "targets": [
    {
      "target_name": "recfleet_recorder",
      "sources": [
        "native/addon.cc",
        "native/recorder_object.cc",
        "native/recording_loop.cc",
        "native/reconnect_supervisor.cc",
        "native/failure_reporter.cc",
        "native/stream_selection.cc",
        "native/segment_cutter.cc",
        "native/timestamp_repair.cc",
        "native/program_clock.cc",
        "native/segment_writer.cc",
        "native/event_json.cc",
        "native/memory_release.cc",
        "native/buffered_socket.cc",
        "native/amf0.cc",
        "native/rtmp_chunk_stream.cc",
        "native/rtmp_url.cc",
        "native/rtmp_play_session.cc",
        "native/rtmp_flv_input.cc",
        "native/source_input.cc",
        "native/udp_ts_input.cc",
        "native/tls_session.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "variables": {
        "have_gnutls": "<!(pkg-config --exists gnutls && echo 1 || echo 0)"
      },
      "conditions": [
        [
          "have_gnutls==1",
          {
            "defines": ["RECFLEET_HAVE_GNUTLS"],
            "cflags_cc": ["<!@(pkg-config --cflags gnutls)"],
            "libraries": ["<!@(pkg-config --libs gnutls)"]
          }
        ]
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"],
      "cflags_cc": [
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-O2",
        "-fexceptions",
        "<!@(pkg-config --cflags libavformat libavcodec libavutil)"
      ],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "libraries": ["<!@(pkg-config --libs libavformat libavcodec libavutil)", "-lpthread"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CFLAGS": ["<!@(pkg-config --cflags libavformat libavcodec libavutil)"]
      }
    }
  ]
}
