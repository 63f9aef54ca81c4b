// Large host buffers (packed weights, the KV pool) mapped straight from the OS instead of
// taken from malloc, so that freeing one gives its memory back at once. glibc raises its
// mmap threshold after the first large free, and later buffers of that size then come from
// heaps that keep their pages: a host that loads, uses and disposes models kept ~170 MB of
// a 9 MB model resident. Pages are backed as they are first written (zero-filled), so
// untouched KV blocks cost no memory. Buffers of 2 MiB or more start on a 2 MiB boundary,
// where a kernel with transparent huge pages on for all memory ("always") can map them a
// huge page at a time; they are not marked MADV_HUGEPAGE, which on the usual "madvise"
// setting makes each first touch wait for memory compaction.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace lckv {

struct FreeLargeBuffer {
  size_t mapped = 0;  // bytes to unmap
  void operator()(uint8_t* p) const;
};
using LargeBuffer = std::unique_ptr<uint8_t[], FreeLargeBuffer>;

// At least `bytes` zero-filled bytes, page-aligned (2 MiB-aligned from 2 MiB); throws
// std::bad_alloc when the OS refuses.
LargeBuffer allocate_large(size_t bytes);

// What allocate_large(bytes) maps: its deleter unmaps that much.
size_t large_buffer_size(size_t bytes);

// For std::vector buffers that grow with the work (activations): the same mapped storage.
template <typename T>
struct LargeAllocator {
  using value_type = T;
  LargeAllocator() = default;
  template <typename U>
  LargeAllocator(const LargeAllocator<U>&) {}
  T* allocate(size_t n) { return reinterpret_cast<T*>(allocate_large(n * sizeof(T)).release()); }
  void deallocate(T* p, size_t n) { FreeLargeBuffer{large_buffer_size(n * sizeof(T))}(reinterpret_cast<uint8_t*>(p)); }
  template <typename U>
  bool operator==(const LargeAllocator<U>&) const { return true; }
  template <typename U>
  bool operator!=(const LargeAllocator<U>&) const { return false; }
};

template <typename T>
using LargeVector = std::vector<T, LargeAllocator<T>>;

}  // namespace lckv
