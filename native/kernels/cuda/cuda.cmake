# The CUDA kernels as the static library lckv_cuda (included by CMakeLists.txt when
# LCKV_CUDA is ON). cuBLAS is used when found: in the toolkit, or under LCKV_CUBLAS_DIR
# (e.g. the nvidia-cublas Python wheel's site-packages/nvidia/cublas); otherwise the
# built-in GEMM kernels serve every matrix product.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 80 90)  # A100 and H100/H200
endif()
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)

option(LCKV_CUBLAS "Use cuBLAS for large matrix products when it is found" ON)
set(LCKV_CUBLAS_DIR "" CACHE PATH "Extra place to look for cuBLAS (include/cublas_v2.h, lib/libcublas.so*)")
find_path(LCKV_CUBLAS_INCLUDE cublas_v2.h HINTS ${CUDAToolkit_INCLUDE_DIRS} ${LCKV_CUBLAS_DIR}/include)
find_library(LCKV_CUBLAS_LIBRARY NAMES cublas libcublas.so.13 libcublas.so.12
             HINTS ${CUDAToolkit_LIBRARY_DIR} ${LCKV_CUBLAS_DIR}/lib)

add_library(lckv_cuda STATIC
  native/kernels/cuda/decode_attention.cu
  native/kernels/cuda/device.cu
  native/kernels/cuda/kv_append.cu
  native/kernels/cuda/matmul.cu
  native/kernels/cuda/ops.cu
  native/kernels/cuda/prefill_attention.cu)
target_include_directories(lckv_cuda PUBLIC native)
target_compile_options(lckv_cuda PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings -Xcompiler=-Wall,-Wextra,-Werror --expt-relaxed-constexpr>)
target_link_libraries(lckv_cuda PUBLIC CUDA::cudart)

if(LCKV_CUBLAS AND LCKV_CUBLAS_INCLUDE AND LCKV_CUBLAS_LIBRARY)
  message(STATUS "lckv: cuBLAS ${LCKV_CUBLAS_LIBRARY}")
  target_include_directories(lckv_cuda PRIVATE ${LCKV_CUBLAS_INCLUDE})
  target_compile_definitions(lckv_cuda PRIVATE LCKV_HAVE_CUBLAS)
  target_link_libraries(lckv_cuda PUBLIC ${LCKV_CUBLAS_LIBRARY})
  get_filename_component(LCKV_CUBLAS_LIBDIR ${LCKV_CUBLAS_LIBRARY} DIRECTORY)
  # A wheel's libcublas is not on the loader's path: whatever links lckv_cuda remembers it.
  target_link_options(lckv_cuda INTERFACE "LINKER:-rpath,${LCKV_CUBLAS_LIBDIR}")
else()
  message(STATUS "lckv: no cuBLAS (not found, or LCKV_CUBLAS=OFF); matrix products use the built-in CUDA kernels")
endif()

# The whole-model forward on the device (native/engine/cuda_engine.cpp): host code over the
# engine's core and the kernels. LCKV_WITH_CUDA tells the addon it may construct it.
add_library(lckv_cuda_engine STATIC native/engine/cuda_engine.cpp)
target_compile_options(lckv_cuda_engine PRIVATE -Wall -Wextra -Werror)
target_compile_definitions(lckv_cuda_engine PUBLIC LCKV_WITH_CUDA)
target_link_libraries(lckv_cuda_engine PUBLIC lckv_core lckv_cuda)

set(LCKV_CUDA_TESTS
  native/test/test_cuda_attention.cpp
  native/test/test_cuda_engine.cpp
  native/test/test_cuda_matmul.cpp
  native/test/test_cuda_ops.cpp)

# The GPU benchmark (bench/gpu.sh); it needs a device to print anything.
add_executable(lckv_gpu_bench
  native/bench/gpu_bench.cpp
  native/bench/gpu_decode_model.cpp)
target_include_directories(lckv_gpu_bench PRIVATE native)
target_compile_options(lckv_gpu_bench PRIVATE -Wall -Wextra -Werror)
target_link_libraries(lckv_gpu_bench PRIVATE lckv_core lckv_cuda)
