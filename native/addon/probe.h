// probeHardware(): the hardware probes of native/bench, run on a thread pool of their own
// off the JavaScript thread, for the kernels benchmark.
#pragma once
#include <napi.h>

namespace lckv {

// probeHardware({ threads, triadElements, matmul: [m, n, k], fmaIterations,
//                 attention: { shape: [heads, kvHeads, headDim], context, batches: number[] }, reps }) =>
//   Promise<{ isa, threads, triad: { seconds, bytes }, read: { seconds, bytes }, matmul: { seconds, flops },
//             fma: { seconds, flops }, attention: { batch, seconds, bytes }[] }>
// `seconds` holds one entry per repetition; bytes and flops are per repetition (per call
// for attention: one decode attention of `batch` rows at position context - 1).
Napi::Value ProbeHardware(const Napi::CallbackInfo& info);

}  // namespace lckv
