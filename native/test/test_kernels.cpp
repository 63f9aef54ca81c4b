// Every optimized kernel against its plain reference, on odd shapes, for every ISA path
// this CPU can run, with 1 and 2 threads.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "test/check.h"
#include "test/random_data.h"

using namespace lckv;
using namespace lckv::test;

namespace {

// x as the avx512bf16 path sees it: every value rounded to bf16.
std::vector<float> rounded_to_bf16(const std::vector<float>& x) {
  std::vector<float> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = bf16_to_f32(f32_to_bf16(x[i]));
  return out;
}

float max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float scale = 1e-6f, diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    scale = std::fmax(scale, std::fabs(b[i]));
    diff = std::fmax(diff, std::fabs(a[i] - b[i]));
  }
  return diff / scale;
}

template <typename Fn>
void for_each_isa(Fn&& fn) {
  const Isa saved = isa_active();
  for (Isa isa : isa_available()) {
    isa_set_active(isa);
    fn(isa);
  }
  isa_set_active(saved);
}

}  // namespace

TEST_CASE("matmul: every ISA, dtype and odd shape matches the reference") {
  ThreadPool one(1), two(2);
  for_each_isa([&](Isa isa) {
    for (DType dt : {DType::F32, DType::F16, DType::BF16})
      for (int64_t n : {1, 2, 3, 5, 17, 70})
        for (int64_t rows : {1, 3, 17, 33, 53, 64})
          for (int64_t cols : {1, 7, 8, 15, 16, 33, 100}) {
            const auto wf = random_floats(size_t(rows * cols), uint32_t(rows * 131 + cols));
            const auto wb = encode(wf, dt);
            const WeightView w{wb.data(), dt, rows, cols};
            const PackedWeight packed(w);
            const auto x = random_floats(size_t(n * cols), uint32_t(n + 7));
            std::vector<float> want(size_t(n * rows)), got1(want.size()), got2(want.size());
            const bool bf16_dot = isa == Isa::Avx512Bf16 && bf16_dot_applies(packed.view());
            matmul_reference(want.data(), bf16_dot ? rounded_to_bf16(x).data() : x.data(), n, w);
            matmul(got1.data(), x.data(), n, packed.view(), one);
            matmul(got2.data(), x.data(), n, packed.view(), two);
            const std::string where = std::string(isa_name(isa)) + " " + dtype_name(dt) + " n=" + std::to_string(n) +
                                      " rows=" + std::to_string(rows) + " cols=" + std::to_string(cols);
            CHECK_MSG(max_rel_diff(got1, want) < 1e-5f, where);
            CHECK_MSG(got1 == got2, where + ": thread count changed the result");
          }
  });
}

TEST_CASE("matmul: a row's result does not depend on its batch (bitwise)") {
  ThreadPool pool(2);
  for_each_isa([&](Isa isa) {
    for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
      // More than a chunk of x rows, a block of columns and a task of panels, so every loop
      // edge is crossed.
      const int64_t rows = 53, cols = 300, n = 67;
      const auto wb = encode(random_floats(size_t(rows * cols), 3), dt);
      const PackedWeight packed(WeightView{wb.data(), dt, rows, cols});
      const PackedView w = packed.view();
      const auto x = random_floats(size_t(n * cols), 4);
      std::vector<float> batch(size_t(n * rows));
      std::vector<float> alone(static_cast<size_t>(rows));
      matmul(batch.data(), x.data(), n, w, pool);
      for (int64_t i = 0; i < n; ++i) {
        matmul(alone.data(), x.data() + i * cols, 1, w, pool);
        CHECK_MSG(std::equal(alone.begin(), alone.end(), batch.begin() + i * rows),
                  std::string(isa_name(isa)) + " " + dtype_name(dt) + " row " + std::to_string(i));
      }
    }
  });
}

TEST_CASE("matmul_many: each product equals matmul alone, bit for bit, however threads split them") {
  ThreadPool one(1), two(2), three(3);
  for_each_isa([&](Isa isa) {
    for (ThreadPool* pool : {&one, &two, &three})
      for (int64_t n : {1, 5}) {
        const int64_t cols = 40;
        const int64_t rows[3] = {17, 70, 3};
        std::vector<std::vector<uint8_t>> weights;
        std::vector<PackedWeight> packed;
        std::vector<std::vector<float>> got(3), want(3);
        std::vector<MatmulOut> outs;
        for (int k = 0; k < 3; ++k) {
          weights.push_back(encode(random_floats(size_t(rows[k] * cols), uint32_t(31 + k)), DType::F16));
          got[size_t(k)].assign(size_t(n * rows[k]), 0.0f);
          want[size_t(k)].assign(size_t(n * rows[k]), 0.0f);
          packed.emplace_back(WeightView{weights.back().data(), DType::F16, rows[k], cols});
          outs.push_back({got[size_t(k)].data(), packed.back().view()});
        }
        const auto x = random_floats(size_t(n * cols), 30);
        matmul_many(outs.data(), 3, x.data(), n, *pool);
        for (int k = 0; k < 3; ++k) {
          matmul(want[size_t(k)].data(), x.data(), n, outs[size_t(k)].w, one);
          CHECK_MSG(got[size_t(k)] == want[size_t(k)], std::string(isa_name(isa)) + " threads=" +
                                                           std::to_string(pool->size()) + " n=" + std::to_string(n) +
                                                           " product " + std::to_string(k));
        }
      }
  });
}

#if defined(LCKV_AVX512_SIMDE_CHECK)
namespace lckv {
void matmul_panels_avx512_simde(float* y, const float* x, int64_t n, const PackedView& w, int64_t p0, int64_t p1);
void matmul_panels_avx512bf16_simde(float* y, const uint16_t* x_bf16, int64_t n, const PackedView& w, int64_t p0, int64_t p1);
void round_to_bf16_avx512_simde(uint16_t* out, const float* x, int64_t count);
}  // namespace lckv
#define SIMDE_BUILD(kernel) kernel##_simde
#else
#define SIMDE_BUILD(kernel) nullptr
#endif

namespace {

bool cpu_runs(Isa isa) {
  const std::vector<Isa> paths = isa_available();
  return std::find(paths.begin(), paths.end(), isa) != paths.end();
}

// The builds of an AVX-512 kernel this binary and CPU can run: through SIMDe where the test
// binary has it (made of AVX2 + FMA instructions, CMakeLists.txt), natively on a CPU with
// the instructions. Prints which, so a CI log shows it.
template <typename Kernel>
std::vector<std::pair<const char*, Kernel>> avx512_builds(Isa isa, Kernel native, Kernel simde) {
  std::vector<std::pair<const char*, Kernel>> out;
  if (simde && cpu_runs(Isa::Avx2)) out.push_back({"SIMDe", simde});
  if (cpu_runs(isa)) out.push_back({"native", native});
  std::string names;
  for (const auto& build : out) names += std::string(" ") + build.first;
  std::printf("    %s builds run:%s\n", isa_name(isa), out.empty() ? " none (no SIMDe build, no such CPU)" : names.c_str());
  return out;
}

}  // namespace

// The AVX-512 tile: the same fused multiply-add chains as the AVX2 path, so the same bits,
// on tiles of 1 to 12 rows, past a chunk of rows and a block of columns.
TEST_CASE("matmul: the AVX-512 tile matches the reference and the AVX2 path bit for bit") {
  using Kernel = void (*)(float*, const float*, int64_t, const PackedView&, int64_t, int64_t);
  for (const auto& [name, kernel] : avx512_builds<Kernel>(Isa::Avx512, matmul_panels_avx512, SIMDE_BUILD(matmul_panels_avx512)))
    for (DType dt : {DType::F32, DType::F16, DType::BF16})
      for (int64_t n : {1, 2, 11, 12, 13, 25, 121})
        for (int64_t rows : {1, 17, 53})
          for (int64_t cols : {1, 7, 16, 33, 300}) {
            const auto wb = encode(random_floats(size_t(rows * cols), uint32_t(rows * 7 + cols)), dt);
            const WeightView w{wb.data(), dt, rows, cols};
            const PackedWeight packed(w);
            const auto x = random_floats(size_t(n * cols), uint32_t(n + 3));
            std::vector<float> want(size_t(n * rows)), avx2(want.size()), got(want.size());
            matmul_reference(want.data(), x.data(), n, w);
            matmul_panels_avx2(avx2.data(), x.data(), n, packed.view(), 0, panel_count(rows));
            kernel(got.data(), x.data(), n, packed.view(), 0, panel_count(rows));
            const std::string where = std::string(name) + " " + dtype_name(dt) + " n=" + std::to_string(n) +
                                      " rows=" + std::to_string(rows) + " cols=" + std::to_string(cols);
            CHECK_MSG(max_rel_diff(got, want) < 1e-5f, where);
            CHECK_MSG(got == avx2, where + ": AVX-512 and AVX2 differ");
          }
}

// The AVX512-BF16 tile: exactly the reference's products of x rounded to bf16 (f32 sums
// aside), and a row's bits do not depend on its batch.
TEST_CASE("matmul: the AVX512-BF16 tile equals the reference on x rounded to bf16, batch-invariant") {
  // A build's kernel and its rounding of x (the SIMDe build's under SIMDe) go together.
  struct Build {
    void (*kernel)(float*, const uint16_t*, int64_t, const PackedView&, int64_t, int64_t);
    void (*round)(uint16_t*, const float*, int64_t);
    explicit operator bool() const { return kernel != nullptr; }
  };
  const Build native{matmul_panels_avx512bf16, round_to_bf16_avx512};
  const Build simde{SIMDE_BUILD(matmul_panels_avx512bf16), SIMDE_BUILD(round_to_bf16_avx512)};
  for (const auto& [name, build] : avx512_builds<Build>(Isa::Avx512Bf16, native, simde)) {
    const auto [kernel, round] = build;
    for (int64_t n : {1, 2, 11, 12, 13, 25, 121})
      for (int64_t rows : {1, 17, 53})
        for (int64_t cols : {2, 8, 34, 300}) {
          const auto wb = encode(random_floats(size_t(rows * cols), uint32_t(rows * 5 + cols)), DType::BF16);
          const WeightView w{wb.data(), DType::BF16, rows, cols};
          const PackedWeight packed(w);
          const auto x = random_floats(size_t(n * cols), uint32_t(n + 9));
          std::vector<uint16_t> xb(x.size());
          round(xb.data(), x.data(), int64_t(x.size()));
          std::vector<float> want(size_t(n * rows)), got(want.size()), alone(static_cast<size_t>(rows));
          matmul_reference(want.data(), rounded_to_bf16(x).data(), n, w);
          kernel(got.data(), xb.data(), n, packed.view(), 0, panel_count(rows));
          const std::string where = std::string(name) + " n=" + std::to_string(n) + " rows=" + std::to_string(rows) +
                                    " cols=" + std::to_string(cols);
          CHECK_MSG(max_rel_diff(got, want) < 1e-5f, where);
          for (int64_t i = 0; i < n; i += 6) {
            kernel(alone.data(), xb.data() + i * cols, 1, packed.view(), 0, panel_count(rows));
            CHECK_MSG(std::equal(alone.begin(), alone.end(), got.begin() + i * rows), where + " row " + std::to_string(i));
          }
        }
  }
}

TEST_CASE("attention: every ISA, GQA, diagonal mask and sliding windows match the reference") {
  ThreadPool pool(2);
  for_each_isa([&](Isa isa) {
    for (DType dt : {DType::F32, DType::F16, DType::BF16})
      for (auto [heads, kv_heads, hd] : {std::tuple{4, 4, 8}, std::tuple{4, 2, 16}, std::tuple{6, 1, 6}, std::tuple{2, 1, 35},
                                              std::tuple{4, 2, 64}, std::tuple{2, 1, 136}})
        for (bool no_diag : {false, true})
          for (int32_t window : {0, 1, 3, 50})
            // Spans past 64 positions cross the widened-row chunks of head_dim 64 and up.
            // And past kAttentionSegment (512): rows whose span is folded from several segments.
            for (auto [n, pos0] : {std::pair{1, 0}, std::pair{1, 9}, std::pair{7, 0}, std::pair{5, 20}, std::pair{40, 3},
                                   std::pair{1, 150}, std::pair{21, 90}, std::pair{1, 1100}, std::pair{6, 1020}}) {
              const AttentionShape shape{heads, kv_heads, hd};
              const AttentionMask mask{no_diag, window};
              const int64_t width = int64_t(kv_heads) * hd, len = pos0 + n;
              const auto kb = encode(random_floats(size_t(len * width), 11), dt);
              const auto vb = encode(random_floats(size_t(len * width), 12), dt);
              const KvView kv{kb.data(), vb.data(), dt, width};
              const auto q = random_floats(size_t(n * heads * hd), 13);
              std::vector<float> want(q.size()), got(q.size());
              attention_reference(want.data(), q.data(), n, pos0, kv, shape, mask);
              attention(got.data(), q.data(), n, pos0, kv, shape, mask, pool);
              CHECK_MSG(max_rel_diff(got, want) < 1e-5f,
                        std::string(isa_name(isa)) + " " + dtype_name(dt) + " heads=" + std::to_string(heads) + "/" +
                            std::to_string(kv_heads) + " hd=" + std::to_string(hd) + " nodiag=" + std::to_string(no_diag) +
                            " window=" + std::to_string(window) + " n=" + std::to_string(n) + " pos0=" + std::to_string(pos0));
            }
  });
}

// A row alone reads the stored F16/BF16 values directly (where the ISA path can); a prefill
// tile widens them first: the two must agree to the bit.
TEST_CASE("attention: a prefill row equals the same row computed alone, bit for bit") {
  ThreadPool pool(2);
  for_each_isa([&](Isa isa) {
    for (DType dt : {DType::F16, DType::BF16})
    for (AttentionMask mask : {AttentionMask{false, 0}, AttentionMask{true, 0}, AttentionMask{false, 5}, AttentionMask{false, 70},
                               AttentionMask{false, 600}})
      for (auto [shape, pos0] : {std::pair{AttentionShape{6, 2, 16}, int64_t(4)}, std::pair{AttentionShape{4, 2, 64}, int64_t(90)},
                                 std::pair{AttentionShape{2, 1, 48}, int64_t(30)}, std::pair{AttentionShape{4, 2, 64}, int64_t(1000)}}) {
        const int64_t n = 37, width = int64_t(shape.n_heads) * shape.head_dim;
        const int64_t kv_width = int64_t(shape.n_kv_heads) * shape.head_dim;
        const auto kb = encode(random_floats(size_t((pos0 + n) * kv_width), 21), dt);
        const auto vb = encode(random_floats(size_t((pos0 + n) * kv_width), 22), dt);
        const KvView kv{kb.data(), vb.data(), dt, kv_width};
        const auto q = random_floats(size_t(n * width), 23);
        std::vector<float> whole(q.size()), alone(q.size());
        attention(whole.data(), q.data(), n, pos0, kv, shape, mask, pool);
        std::vector<int64_t> positions(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) positions[size_t(i)] = pos0 + i;
        const std::vector<KvView> views(size_t(n), kv);
        attention_rows(alone.data(), q.data(), n, positions.data(), views.data(), shape, mask, pool);
        // A few rows alone (fewer than 4 per thread): over long spans, their segments are
        // computed on different threads and folded afterwards.
        std::vector<float> few(size_t(3 * width));
        attention_rows(few.data(), q.data() + 30 * width, 3, positions.data() + 30, views.data(), shape, mask, pool);
        CHECK_MSG(std::equal(few.begin(), few.end(), whole.begin() + 30 * width),
                  std::string(isa_name(isa)) + " " + dtype_name(dt) + " few rows, pos0=" + std::to_string(pos0) +
                      " window=" + std::to_string(mask.window));
        CHECK_MSG(whole == alone, std::string(isa_name(isa)) + " " + dtype_name(dt) + " hd=" + std::to_string(shape.head_dim) + " nodiag=" +
                                      std::to_string(mask.no_diag) + " window=" + std::to_string(mask.window));
      }
  });
}

TEST_CASE("attention: a query that sees nothing outputs zeros") {
  ThreadPool pool(1);
  const std::vector<float> k(8, 1.0f), v(8, 1.0f), q(8, 1.0f);
  std::vector<float> out(8, 42.0f);
  attention(out.data(), q.data(), 1, 0, KvView{k.data(), v.data(), DType::F32, 8}, AttentionShape{1, 1, 8},
            AttentionMask{true, 0}, pool);
  for (float x : out) CHECK(x == 0.0f);
}

TEST_CASE("silu_mul: every ISA matches the formula, each element alike wherever it sits") {
  for_each_isa([&](Isa isa) {
    auto gate = random_floats(37, 41, 6.0f);
    gate[0] = -200.0f, gate[1] = 200.0f, gate[2] = 0.0f;  // e^-g saturating, vanishing, one
    const auto up = random_floats(37, 42);
    std::vector<float> all = gate;
    silu_mul(all.data(), up.data(), int64_t(all.size()));
    for (size_t i = 0; i < gate.size(); ++i) {
      const double g = gate[i], want = g / (1.0 + std::exp(-g)) * up[i];
      CHECK_MSG(std::fabs(all[i] - want) <= 1e-6 * std::fabs(want) + 1e-30,
                std::string(isa_name(isa)) + " g=" + std::to_string(g) + " got " + std::to_string(all[i]));
      float alone = gate[i];
      silu_mul(&alone, &up[i], 1);
      CHECK_MSG(alone == all[i], std::string(isa_name(isa)) + ": element " + std::to_string(i) + " depends on its place");
    }
  });
}

TEST_CASE("rmsnorm and rope match their formulas") {
  // Widths below, at and past the four running sums' stride, weights in every dtype.
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    for (int d : {3, 6, 37}) {
      const auto x = random_floats(size_t(2 * d), uint32_t(5 + d));
      const auto wb = encode(random_floats(size_t(d), uint32_t(9 + d)), dt);
      std::vector<float> out(x.size());
      rmsnorm(out.data(), x.data(), wb.data(), dt, 2, d, 1e-5f);
      for (int r = 0; r < 2; ++r) {
        double ss = 0;
        for (int c = 0; c < d; ++c) ss += double(x[r * d + c]) * x[r * d + c];
        for (int c = 0; c < d; ++c) {
          const double want = x[r * d + c] / std::sqrt(ss / d + 1e-5) * load_as_f32(wb.data(), dt, size_t(c));
          CHECK_MSG(std::fabs(out[r * d + c] - want) < 1e-5, std::string(dtype_name(dt)) + " d=" + std::to_string(d));
        }
      }
    }
  // Rotating by position p then reading the pair back recovers the angle p * inv_freq.
  std::vector<float> head{1, 0, 0, 0};  // head_dim 4: pairs (0, 2) and (1, 3)
  const double inv_freq[2] = {0.5, 0.25};
  rope_apply(head.data(), 1, 1, 4, 3, inv_freq);
  CHECK(std::fabs(head[0] - std::cos(1.5)) < 1e-6 && std::fabs(head[2] - std::sin(1.5)) < 1e-6);
  CHECK(head[1] == 0.0f && head[3] == 0.0f);
  // Rows at scattered positions (a batched decode) rotate by their own table rows: each pair
  // (f, f + half) of every head turns by position * inv_freq[f], the angle in double and
  // its cos/sin rounded to f32 (the rule written out here, not the kernels' code).
  for (int32_t hd : {4, 10, 64}) {
    const int32_t heads = 3, half = hd / 2;
    const int64_t positions[3] = {7, 0, 1000};
    std::vector<double> freq;
    for (int32_t f = 0; f < half; ++f) freq.push_back(std::pow(10000.0, -2.0 * f / hd));
    const auto x = random_floats(size_t(3 * heads * hd), uint32_t(hd));
    std::vector<float> angles(size_t(3 * hd)), rotated = x, want = x;
    for (int i = 0; i < 3; ++i) {
      rope_angles(angles.data() + i * hd, positions[i], hd, freq.data());
      for (int32_t h = 0; h < heads; ++h)
        for (int32_t f = 0; f < half; ++f) {
          const double angle = double(positions[i]) * freq[size_t(f)];
          const float c = float(std::cos(angle)), sn = float(std::sin(angle));
          float* head = want.data() + (i * heads + h) * hd;
          const float a = head[f], b = head[f + half];
          head[f] = a * c - b * sn;
          head[f + half] = b * c + a * sn;
        }
    }
    rope_rotate(rotated.data(), 3, heads, hd, angles.data());
    // Within rounding, not bitwise: a compiler may fuse a * c - b * sn in one place only.
    float worst = 0;
    for (size_t e = 0; e < want.size(); ++e) worst = std::max(worst, std::fabs(rotated[e] - want[e]));
    CHECK_MSG(worst < 1e-5f, "head_dim " + std::to_string(hd) + ": off by " + std::to_string(worst));
  }
}
