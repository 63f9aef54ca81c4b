// Large host buffers that kernels walk in scattered order (the KV pool's blocks): aligned
// to 2 MiB and, on Linux, marked for transparent huge pages, so a walk costs one TLB entry
// per 2 MiB instead of one per 4 KiB. Memory is not touched here: pages are backed as they
// are first written (a huge page at a time where the kernel grants them).
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
