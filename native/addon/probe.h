// probeHardware(): the hardware probes of native/bench, run on a thread pool of their own
// off the JavaScript thread, for the kernels benchmark.
#pragma once
#include <napi.h>

namespace lckv {

// probeHardware({ threads, triadElements, matmul: [m, n, k], fmaIterations, reps }) =>
//   Promise<{ isa, threads, triad: { seconds, bytes }, matmul: { seconds, flops }, fma: { seconds, flops } }>
// `seconds` holds one entry per repetition; bytes and flops are per repetition.
Napi::Value ProbeHardware(const Napi::CallbackInfo& info);

}  // namespace lckv
