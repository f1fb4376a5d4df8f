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
  static std::atomic<int64_t> zero_bytes_released;  // see memory_release.cc
  static std::atomic<int64_t> heap_trims;
};
}  // namespace recfleet
