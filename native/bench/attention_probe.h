// Decode attention on the kernels' own thread pool, timed against the bytes of K/V it must
// read: how close the attention kernel streams a long context to the machine's bandwidth.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/thread_pool.h"

namespace lckv {

struct AttentionProbe {
  std::vector<double> seconds;  // [reps] per attention_rows call
  double bytes = 0;             // K/V bytes one call reads
};

// `batch` query rows, each the newest position (context - 1) of its own sequence, against
// paged f16 K/V in the engine's own pool (native/cache/kv_pool.h), its blocks handed out in
// shuffled order (as a pool ends up after many requests). Distinct caches are cycled so that at least `stream_bytes` of K/V
// is read between two visits of one, and it streams from memory as a decode step's does.
AttentionProbe probe_decode_attention(const AttentionShape& shape, int64_t batch, int64_t context, int64_t stream_bytes,
                                      int32_t reps, ThreadPool& pool);

}  // namespace lckv
