#include "model/mapped_file.h"

#include "common/error.h"

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace lckv {

#if defined(_WIN32)

MappedFile::MappedFile(const std::string& path) : path_(path) {
  HANDLE f = CreateFileA(path.c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL,
                         nullptr);
  if (f == INVALID_HANDLE_VALUE) throw Error("FILE_NOT_FOUND", "cannot open " + path);
  LARGE_INTEGER sz;
  GetFileSizeEx(f, &sz);
  size_ = uint64_t(sz.QuadPart);
  file_ = f;
  if (size_ == 0) return;
  HANDLE m = CreateFileMappingA(f, nullptr, PAGE_READONLY, 0, 0, nullptr);
  if (!m) {
    CloseHandle(f);
    throw Error("FILE_READ_FAILED", "cannot map " + path);
  }
  mapping_ = m;
  data_ = static_cast<const uint8_t*>(MapViewOfFile(m, FILE_MAP_READ, 0, 0, 0));
  if (!data_) {
    CloseHandle(m);
    CloseHandle(f);
    throw Error("FILE_READ_FAILED", "cannot map " + path);
  }
}

MappedFile::~MappedFile() {
  if (data_) UnmapViewOfFile(data_);
  if (mapping_) CloseHandle(mapping_);
  if (file_) CloseHandle(file_);
}

void MappedFile::release(const void*, uint64_t) const {}

#else

MappedFile::MappedFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("FILE_NOT_FOUND", "cannot open " + path);
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("FILE_READ_FAILED", path + " is not a regular file");
  }
  size_ = uint64_t(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_t(size_), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw Error("FILE_READ_FAILED", "cannot map " + path);
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_t(size_));
}

void MappedFile::release(const void* p, uint64_t bytes) const {
  const auto page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) / page * page;
  // The mapping is private and never written: dropping its pages loses nothing.
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), size_t(end - begin), MADV_DONTNEED);
}

#endif

}  // namespace lckv
