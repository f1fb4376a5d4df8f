// Why this exists: FFmpeg's FLV demuxer (every RTMP input, and HTTP-FLV) keeps a 2 MiB resync buffer
// inside its private context, which av_mallocz zero-fills at open. The memset makes all 512 pages
// resident although the demuxer only writes to the buffer after corrupt input; with hundreds of
// recordings per process that zero-filled buffer was most of the engine's memory per recording.
// A private anonymous page that holds only zeros reads back identical after MADV_DONTNEED (the kernel
// maps its shared zero page until the next write), so giving those pages back changes no byte the
// demuxer sees; it only stops paying for them until they are written.
#include "memory_release.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "counters.h"

namespace recfleet {

namespace {
// Below this, the scan costs more than the pages are worth.
constexpr size_t kMinAllocation = 256 * 1024;

bool PageIsZero(const unsigned char* page, size_t size) {
  const auto* words = reinterpret_cast<const uint64_t*>(page);
  for (size_t i = 0; i < size / sizeof(uint64_t); i++) {
    if (words[i] != 0) return false;
  }
  return true;
}
}  // namespace

int64_t ReleaseZeroPages(void* p) {
#if defined(__GLIBC__) && defined(MADV_DONTNEED)
  if (!p) return 0;
  size_t size = malloc_usable_size(p);
  if (size < kMinAllocation) return 0;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + size) & ~(page - 1);
  int64_t released = 0;
  uintptr_t run = 0;  // start of the current run of zero pages, 0 when none
  auto flush = [&](uintptr_t until) {
    if (run && until > run && madvise(reinterpret_cast<void*>(run), until - run, MADV_DONTNEED) == 0) {
      released += static_cast<int64_t>(until - run);
    }
    run = 0;
  };
  for (uintptr_t a = begin; a < end; a += page) {
    if (PageIsZero(reinterpret_cast<const unsigned char*>(a), page)) {
      if (!run) run = a;
    } else {
      flush(a);
    }
  }
  flush(end);
  Counters::zero_bytes_released += released;
  return released;
#else
  (void)p;
  return 0;
#endif
}

namespace {
std::atomic<bool> trim_wanted{false};
std::atomic<int64_t> last_trim_ms{0};

void TrimIfDue(int64_t min_interval_ms) {
#if defined(__GLIBC__)
  if (!trim_wanted.load()) return;
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t last = last_trim_ms.load();
  if (now - last < min_interval_ms || !last_trim_ms.compare_exchange_strong(last, now)) return;
  trim_wanted.store(false);
  malloc_trim(0);
  Counters::heap_trims++;
#else
  (void)min_interval_ms;
#endif
}
}  // namespace

void TrimFreedHeap(int64_t min_interval_ms) {
  trim_wanted.store(true);
  TrimIfDue(min_interval_ms);
}

void TrimFreedHeapIfWanted(int64_t min_interval_ms) { TrimIfDue(min_interval_ms); }

}  // namespace recfleet
