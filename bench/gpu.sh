#!/usr/bin/env bash
# The GPU check, prepared to run once on a machine with an NVIDIA GPU (no Node needed):
# builds the native test binary and the GPU benchmark with CUDA (cmake, -j16), runs the
# native tests (CPU and CUDA kernels against the CPU reference), then prints the benchmark
# table, and the host CPU's matmul on every ISA path it has (lckv_cpu_kernels). About 3 minutes expected on an H200;
# every step has a time limit (build 240 s, tests 150 s, benchmark 150 s, CPU kernels 60 s).
#
#   bash bench/gpu.sh            # from the repository root or anywhere
#
# cuBLAS is taken from the CUDA toolkit, else from Python wheels (site-packages/nvidia/...,
# e.g. nvidia-cublas); if a build with it fails, the script builds once more without it.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
build=build-gpu
jobs=${JOBS:-16}

nvcc_bin=$(command -v nvcc || ls /usr/local/cuda*/bin/nvcc 2>/dev/null | head -n 1 || true)
site_dirs=$(python3 -c 'import site, sys; print(" ".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null || true)
if [ -z "$nvcc_bin" ]; then
  for d in $site_dirs; do
    nvcc_bin=$(find "$d/nvidia" -maxdepth 4 -type f -name nvcc -path '*/bin/*' 2>/dev/null | head -n 1)
    [ -n "$nvcc_bin" ] && break
  done
fi
if [ -z "$nvcc_bin" ]; then
  echo "gpu.sh: no nvcc on PATH, in /usr/local/cuda*/bin or in Python's site-packages" >&2
  exit 1
fi
echo "== nvcc: $nvcc_bin ($("$nvcc_bin" --version | tail -n 1))"
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader 2>/dev/null || true

# cuBLAS: a wheel keeps include/cublas_v2.h and lib/libcublas.so.* under site-packages/nvidia.
cublas_dir=""
for d in $site_dirs; do
  header=$(find "$d/nvidia" -maxdepth 4 -name cublas_v2.h 2>/dev/null | head -n 1)
  if [ -n "$header" ]; then
    cublas_dir=$(dirname "$(dirname "$header")")
    break
  fi
done
if [ -n "$cublas_dir" ]; then
  echo "== cuBLAS from $cublas_dir"
  for lib in "$cublas_dir/lib" "$cublas_dir/lib64"; do
    [ -d "$lib" ] && export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  done
fi

log="$build/build.log"
configure_and_build() {  # $1: ON or OFF (use cuBLAS)
  rm -rf "$build" && mkdir -p "$build" &&
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DLCKV_CUDA=ON -DLCKV_CUBLAS="$1" \
      -DCMAKE_CUDA_COMPILER="$nvcc_bin" -DLCKV_CUBLAS_DIR="$cublas_dir" >"$log" 2>&1 &&
    timeout 240 cmake --build "$build" -j "$jobs" >>"$log" 2>&1
}
echo "== build (cmake, LCKV_CUDA=ON, -j$jobs)"
if ! configure_and_build ON; then
  tail -n 40 "$log"
  echo "== the build with cuBLAS failed (above); building with the built-in GEMM only"
  if ! configure_and_build OFF; then
    tail -n 60 "$log"
    echo "gpu.sh: build failed" >&2
    exit 1
  fi
fi
grep -E "lckv: (cuBLAS|no cuBLAS)" "$log" || true
echo "   built in $((SECONDS - start)) s"

echo "== native tests (CUDA kernels vs the CPU kernels)"
timeout 150 "$build/lckv_native_test"
tests=$?

echo
echo "== GPU benchmark"
timeout 150 "$build/lckv_gpu_bench"
bench=$?

# The host's CPU too: GPU hosts often have AVX-512, which the development VMs do not expose.
echo
echo "== CPU kernels on this host ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-))"
timeout 60 "$build/lckv_cpu_kernels"
cpu=$?
echo
echo "gpu.sh: tests exit $tests, benchmark exit $bench, CPU kernels exit $cpu, $((SECONDS - start)) s in all"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ] && [ "$cpu" -eq 0 ]
