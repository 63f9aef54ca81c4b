// Helpers of the CUDA tests: skipping cleanly where no device is present, moving vectors
// to and from the device, and the error measure the CPU tests use (random inputs:
// random_data.h).
#pragma once
#include <cmath>
#include <cstdio>
#include <vector>

#include "kernels/cuda/device.h"
#include "test/random_data.h"

namespace lckv::test {

// True when a CUDA device can run the test; otherwise prints why the case is skipped
// (the case then passes: CI machines have the toolkit but no GPU).
inline bool cuda_ready() {
  if (cuda::device_available()) return true;
  std::printf("    skipped: no CUDA device (or driver) on this machine\n");
  return false;
}

template <typename T>
cuda::DeviceBuffer to_device(const std::vector<T>& host) {
  cuda::DeviceBuffer buf(host.size() * sizeof(T));
  buf.upload(host.data(), host.size() * sizeof(T));
  return buf;
}

template <typename T>
std::vector<T> from_device(const cuda::DeviceBuffer& buf, size_t count) {
  std::vector<T> host(count);
  cuda::device_synchronize();
  buf.download(host.data(), count * sizeof(T));
  return host;
}

// Largest absolute difference relative to the largest magnitude of `want`.
inline float cuda_max_rel_diff(const std::vector<float>& got, const std::vector<float>& want) {
  float scale = 1e-6f, diff = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    scale = std::fmax(scale, std::fabs(want[i]));
    diff = std::isnan(got[i]) ? INFINITY : std::fmax(diff, std::fabs(got[i] - want[i]));
  }
  return diff / scale;
}

}  // namespace lckv::test
