// Gives memory the recorder no longer uses back to the kernel (see memory_release.cc for why).
#pragma once
#include <cstddef>
#include <cstdint>

namespace recfleet {

// Releases every whole page of [p, p + usable size of p's allocation) that holds only zero bytes and
// returns how many bytes it released. p must come from malloc (av_malloc does). Must not run while
// another thread may write to the allocation.
int64_t ReleaseZeroPages(void* p);

// Returns the free pages of every malloc arena to the kernel, at most once per `min_interval_ms` in the
// process (malloc_trim walks every arena: hundreds of joins must not each pay for one). Called after
// stream probing, which decodes a few frames and frees megabytes of decoder buffers. A call that falls
// inside the interval leaves the trim wanted, and the next TrimFreedHeapIfWanted() after it (every
// recording calls it at each segment cut) does it, so the last of a burst of joins is trimmed too.
void TrimFreedHeap(int64_t min_interval_ms);
void TrimFreedHeapIfWanted(int64_t min_interval_ms);

}  // namespace recfleet
