// Helpers of the GPU benchmark: filling device memory with a repeated random pattern
// (uploading gigabytes of host randomness would take longer than the benchmark) and
// timing a block of launches.
#pragma once
#include <cuda_runtime.h>

#include <chrono>
#include <random>
#include <vector>

#include "common/dtype.h"
#include "kernels/cuda/device.h"

namespace lckv::bench {

// Fills `bytes` bytes at dst with copies of a 16 MiB block of N(0, 0.02) values in dtype
// (the scale of a trained model's weights, so activations stay finite).
inline void fill_random(void* dst, size_t bytes, DType dtype) {
  static cuda::DeviceBuffer pattern[3];
  cuda::DeviceBuffer& p = pattern[int(dtype)];
  const size_t block = size_t(16) << 20;
  if (!p.data()) {
    std::mt19937 rng(1234 + int(dtype));
    std::normal_distribution<float> dist(0.0f, 0.02f);
    std::vector<uint8_t> host(block);
    const size_t es = dtype_size(dtype);
    for (size_t i = 0; i < block / es; ++i) store_from_f32(host.data(), dtype, i, dist(rng));
    p = cuda::DeviceBuffer(block);
    p.upload(host.data(), block);
  }
  for (size_t off = 0; off < bytes; off += block) {
    const size_t n = bytes - off < block ? bytes - off : block;
    cuda::check_status(cudaMemcpy(static_cast<uint8_t*>(dst) + off, p.data(), n, cudaMemcpyDeviceToDevice),
                       "cudaMemcpy");
  }
}

// Seconds per call of fn, after `warmup` untimed calls, averaged over `reps`.
template <typename Fn>
double time_per_call(Fn&& fn, int warmup, int reps) {
  for (int i = 0; i < warmup; ++i) fn();
  cuda::device_synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) fn();
  cuda::device_synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
}

}  // namespace lckv::bench
