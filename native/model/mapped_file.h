// A read-only memory map of one checkpoint file: weights are read in place from it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace lckv {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  bool contains(const void* p) const { return p >= data_ && p < data_ + size_; }

  // Drops the resident pages wholly inside [p, p + bytes) (a copy of the weights has been
  // made elsewhere); a later read maps them in again from the file. A no-op off POSIX.
  void release(const void* p, uint64_t bytes) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
#if defined(_WIN32)
  void* file_ = nullptr;
  void* mapping_ = nullptr;
#endif
};

}  // namespace lckv
