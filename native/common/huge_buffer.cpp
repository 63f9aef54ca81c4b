#include "common/huge_buffer.h"

#include <new>

namespace lckv {

namespace {
constexpr size_t kHugePage = size_t(2) << 20;
}

void FreeHugeBuffer::operator()(uint8_t* p) const { ::operator delete[](p, std::align_val_t(kHugePage)); }

HugeBuffer allocate_huge(size_t bytes) {
  const size_t size = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  return HugeBuffer(static_cast<uint8_t*>(::operator new[](size ? size : kHugePage, std::align_val_t(kHugePage))));
}

}  // namespace lckv
