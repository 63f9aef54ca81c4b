// The CUDA matrix products against the CPU reference: both built-in kernels on odd shapes
// and every weight dtype, and the dispatching matmul() (cuBLAS where the build has it).
#include <string>

#include "kernels/cpu/matmul.h"
#include "kernels/cuda/matmul.h"
#include "test/check.h"
#include "test/test_cuda_util.h"

using namespace lckv;
using namespace lckv::test;

TEST_CASE("cuda matmul_builtin: warp-per-row and tiled kernels match the reference") {
  if (!cuda_ready()) return;
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    for (int64_t n : {1, 2, 5, 8, 9, 17, 70})
      for (int64_t rows : {1, 3, 17, 65})
        for (int64_t cols : {1, 7, 8, 15, 16, 33, 100, 264}) {
          const auto wb = encode(random_floats(size_t(rows * cols), uint32_t(rows * 131 + cols)), dt);
          const auto x = random_floats(size_t(n * cols), uint32_t(n + 7));
          std::vector<float> want(size_t(n * rows));
          matmul_reference(want.data(), x.data(), n, WeightView{wb.data(), dt, rows, cols});
          auto dw = to_device(wb), dx = to_device(x);
          cuda::DeviceBuffer dy(want.size() * sizeof(float));
          cuda::matmul_builtin(dy.as<float>(), dx.as<float>(), n, WeightView{dw.data(), dt, rows, cols}, nullptr);
          CHECK_MSG(cuda_max_rel_diff(from_device<float>(dy, want.size()), want) < 1e-5f,
                    std::string(dtype_name(dt)) + " n=" + std::to_string(n) + " rows=" + std::to_string(rows) +
                        " cols=" + std::to_string(cols));
        }
}

TEST_CASE("cuda matmul: the dispatched path (cuBLAS when linked) is within its input rounding") {
  if (!cuda_ready()) return;
  std::printf("    cuBLAS %s\n", cuda::matmul_has_cublas() ? "linked" : "not linked: built-in kernels only");
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    for (int64_t n : {1, 31, 32, 200}) {
      const int64_t rows = 300, cols = 2048;
      const auto wb = encode(random_floats(size_t(rows * cols), 3, 0.05f), dt);
      const auto x = random_floats(size_t(n * cols), 4);
      std::vector<float> want(size_t(n * rows));
      matmul_reference(want.data(), x.data(), n, WeightView{wb.data(), dt, rows, cols});
      auto dw = to_device(wb), dx = to_device(x);
      const WeightView w{dw.data(), dt, rows, cols};
      const size_t ws = cuda::matmul_workspace(n, w);
      cuda::DeviceBuffer dws(ws), dy(want.size() * sizeof(float));
      cuda::matmul(dy.as<float>(), dx.as<float>(), n, w, dws.data(), ws, nullptr);
      // cuBLAS reads x rounded to the weight dtype: about one rounding of 2^-11 (f16) or
      // 2^-8 (bf16) per term, averaging out over the 2048 terms of a dot product.
      const bool rounded = cuda::matmul_path(n) == cuda::MatmulPath::Cublas && dt != DType::F32;
      const float tol = !rounded ? 1e-5f : dt == DType::F16 ? 2e-3f : 2e-2f;
      CHECK_MSG(cuda_max_rel_diff(from_device<float>(dy, want.size()), want) < tol,
                std::string(dtype_name(dt)) + " n=" + std::to_string(n));
    }
}
