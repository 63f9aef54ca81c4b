#include "kernels/cuda/device.h"

#include <cuda_runtime.h>

#include <string>
#include <utility>

#include "common/error.h"

namespace lckv::cuda {

bool device_available() {
  int count = 0;
  // Without a driver this returns an error (e.g. cudaErrorInsufficientDriver), not a crash.
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return false;
  }
  return count > 0;
}

void check_status(int status, const char* what) {
  if (status == cudaSuccess) return;
  const auto err = static_cast<cudaError_t>(status);
  // Device memory running out is the user's budget, not a fault: the same code as on the host.
  throw Error(err == cudaErrorMemoryAllocation ? "OUT_OF_MEMORY" : "CUDA_ERROR",
              std::string(what) + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

DeviceInfo device_info() {
  int device = 0;
  check_status(cudaGetDevice(&device), "cudaGetDevice");
  cudaDeviceProp prop{};
  check_status(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  // CUDA 13 removed memoryClockRate from cudaDeviceProp; the attribute still answers (kHz).
  int clock_khz = 0, bus_bits = 0, shared_optin = 0;
  check_status(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device), "cudaDeviceGetAttribute");
  check_status(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device), "cudaDeviceGetAttribute");
  check_status(cudaDeviceGetAttribute(&shared_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device),
               "cudaDeviceGetAttribute");
  DeviceInfo info;
  info.name = prop.name;
  info.sm_count = prop.multiProcessorCount;
  info.major = prop.major;
  info.minor = prop.minor;
  info.total_bytes = prop.totalGlobalMem;
  info.peak_bandwidth_gbs = 2.0 * double(clock_khz) * 1e3 * double(bus_bits / 8) / 1e9;
  info.max_shared_per_block = shared_optin;
  return info;
}

void device_synchronize() { check_status(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

void copy_on_device(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  if (bytes) check_status(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream), "cudaMemcpyAsync");
}

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes) check_status(cudaMalloc(&data_, bytes), "cudaMalloc");
}

DeviceBuffer::~DeviceBuffer() {
  if (data_) cudaFree(data_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (data_) cudaFree(data_);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void DeviceBuffer::upload(const void* host, size_t bytes) {
  if (bytes > bytes_) throw Error("INVALID_ARGUMENT", "upload larger than the device buffer");
  check_status(cudaMemcpy(data_, host, bytes, cudaMemcpyHostToDevice), "cudaMemcpy to device");
}

void DeviceBuffer::download(void* host, size_t bytes) const {
  if (bytes > bytes_) throw Error("INVALID_ARGUMENT", "download larger than the device buffer");
  check_status(cudaMemcpy(host, data_, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy to host");
}

void DeviceBuffer::fill_zero() {
  if (bytes_) check_status(cudaMemset(data_, 0, bytes_), "cudaMemset");
}

}  // namespace lckv::cuda
