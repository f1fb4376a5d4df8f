// Process-wide counters for the worker's admission control and metrics (like sharp's counters()).
#pragma once
#include <atomic>
#include <cstdint>

namespace recfleet {
struct Counters {
  static std::atomic<int64_t> active_recorders;
  static std::atomic<int64_t> threads;
  static std::atomic<int64_t> bytes_written;
  static std::atomic<int64_t> packets_written;
  static std::atomic<int64_t> packets_dropped;
};
}  // namespace recfleet
