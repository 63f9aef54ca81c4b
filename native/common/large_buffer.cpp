#include "common/large_buffer.h"

#include <new>

#if defined(_WIN32)
#include <windows.h>
#else
#include <sys/mman.h>
#endif

namespace lckv {

namespace {
constexpr size_t kHugePage = size_t(2) << 20;
constexpr size_t kPage = 4096;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }
}  // namespace

size_t large_buffer_size(size_t bytes) { return round_up(bytes ? bytes : 1, kPage); }

#if defined(_WIN32)

void FreeLargeBuffer::operator()(uint8_t* p) const { VirtualFree(p, 0, MEM_RELEASE); }

LargeBuffer allocate_large(size_t bytes) {
  const size_t size = large_buffer_size(bytes);
  // Committed pages are zero and backed on first touch; starts are 64 KiB-aligned.
  void* p = VirtualAlloc(nullptr, size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  if (!p) throw std::bad_alloc();
  return LargeBuffer(static_cast<uint8_t*>(p), FreeLargeBuffer{size});
}

#else

void FreeLargeBuffer::operator()(uint8_t* p) const { ::munmap(p, mapped); }

LargeBuffer allocate_large(size_t bytes) {
  const size_t size = large_buffer_size(bytes);
  const size_t align = size >= kHugePage ? kHugePage : kPage;
  // Map enough to find an aligned start inside, then give back the slack on both sides.
  const size_t span = size + align - kPage;
  void* raw = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t base = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t start = round_up(base, align);
  if (start > base) ::munmap(raw, start - base);
  if (base + span > start + size) ::munmap(reinterpret_cast<void*>(start + size), base + span - (start + size));
  return LargeBuffer(reinterpret_cast<uint8_t*>(start), FreeLargeBuffer{size});
}

#endif

}  // namespace lckv
