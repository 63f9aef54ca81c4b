// Large host buffers that kernels walk in scattered order (the KV pool's blocks), aligned
// to 2 MiB so that a kernel that backs anonymous memory with transparent huge pages by
// default (THP "always") can map them a huge page at a time. They are not marked with
// MADV_HUGEPAGE: on the common "madvise" setting that makes each first touch wait for the
// kernel to compact memory into a free huge page, a stall on a host's worker thread that
// the measured gain (decode attention ~10%, within this machine's noise) does not pay for.
// Memory is not touched here: pages are backed as they are first written.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

namespace lckv {

struct FreeHugeBuffer {
  void operator()(uint8_t* p) const;
};
using HugeBuffer = std::unique_ptr<uint8_t[], FreeHugeBuffer>;

// At least `bytes` bytes (one huge page's alignment); throws std::bad_alloc.
HugeBuffer allocate_huge(size_t bytes);

}  // namespace lckv
