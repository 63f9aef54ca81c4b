// The CUDA device as the rest of the code sees it: whether one is usable, what it is, and
// device memory owned by a small RAII buffer. Plain C++ (no CUDA headers), so the engine,
// the addon and the tests compile with the host compiler alone.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

// The CUDA runtime's stream handle, declared as cuda_runtime.h declares it.
typedef struct CUstream_st* cudaStream_t;

namespace lckv::cuda {

// False when there is no driver, no device, or the driver is older than the runtime: the
// caller then stays on the CPU. Never throws.
bool device_available();

struct DeviceInfo {
  std::string name;
  int32_t sm_count = 0;
  int32_t major = 0, minor = 0;         // compute capability
  uint64_t total_bytes = 0;             // device memory
  double peak_bandwidth_gbs = 0;        // 2 (DDR) x memory clock x bus width
  int64_t max_shared_per_block = 0;     // bytes, with the opt-in carve-out
};
DeviceInfo device_info();

// Throws lckv::Error("CUDA_ERROR", ...) with the runtime's message when `status` is not
// success (code OUT_OF_MEMORY when an allocation failed); `what` names the call.
void check_status(int status, const char* what);

// Waits for every launch on the device (the kernels launch asynchronously).
void device_synchronize();

// Copies `bytes` bytes between device buffers, in order with the launches on `stream`.
void copy_on_device(void* dst, const void* src, size_t bytes, cudaStream_t stream);

// Device memory of `bytes` bytes; freed by the destructor. Movable, not copyable.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return data_; }
  template <typename T>
  T* as() const { return static_cast<T*>(data_); }
  size_t bytes() const { return bytes_; }

  // Synchronous copies of `bytes` bytes (at most bytes()) from / to host memory.
  void upload(const void* host, size_t bytes);
  void download(void* host, size_t bytes) const;
  void fill_zero();

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace lckv::cuda
