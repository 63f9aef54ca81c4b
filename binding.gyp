{
  "targets": [
    {
      "target_name": "lckv",
      "sources": [
        "native/addon/addon.cpp",
        "native/addon/convert.cpp",
        "native/addon/probe.cpp",
        "native/bench/attention_probe.cpp",
        "native/bench/hw_probe.cpp",
        "native/bench/hw_probe_avx2.cpp",
        "native/bench/hw_probe_avx512.cpp",
        "native/bench/hw_probe_neon.cpp",
        "native/cache/kv_pool.cpp",
        "native/cache/sequence.cpp",
        "native/common/large_buffer.cpp",
        "native/engine/engine.cpp",
        "native/engine/sampler.cpp",
        "native/engine/packed_linears.cpp",
        "native/engine/pass_bounds.cpp",
        "native/kernels/cpu/attention.cpp",
        "native/kernels/cpu/attention_avx2.cpp",
        "native/kernels/cpu/attention_neon.cpp",
        "native/kernels/cpu/isa.cpp",
        "native/kernels/cpu/matmul.cpp",
        "native/kernels/cpu/matmul_avx2.cpp",
        "native/kernels/cpu/matmul_avx512.cpp",
        "native/kernels/cpu/matmul_avx512bf16.cpp",
        "native/kernels/cpu/matmul_neon.cpp",
        "native/kernels/cpu/ops.cpp",
        "native/kernels/cpu/ops_avx2.cpp",
        "native/kernels/cpu/packed_weight.cpp",
        "native/kernels/cpu/thread_pool.cpp",
        "native/model/layer_plan.cpp",
        "native/model/mapped_file.cpp",
        "native/model/weights.cpp"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      # A worker thread terminated while a native call is in flight cannot receive its result:
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS drops the exception instead of ending the process.
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O3", "-Wall", "-Wextra", "-fexceptions"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-Wall", "-Wextra"]
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++17"] }
      }
    }
  ]
}
