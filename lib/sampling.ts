/** Resolved sampling settings of one request (see GenerateOptions for the meaning). */
export interface SamplingSettings {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repetitionPenalty: number;
  seed: number;
}

/** A small, fast, seedable PRNG (SplitMix32 state, Mulberry-style output): same seed, same draws. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** The largest finite float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Applies the repetition penalty (as Hugging Face does) to a copy of the logits. A score
 * that a tiny penalty pushes past the float range saturates at the largest float instead of
 * becoming Infinity (Infinity - Infinity is NaN): such tokens then tie, and share the draw.
 */
function penalize(logits: Float32Array, seen: ReadonlySet<number>, penalty: number): Float32Array {
  if (penalty === 1) return logits;
  const out = scratch.penalized(logits.length);
  out.set(logits);
  for (const id of seen) out[id] = out[id] > 0 ? Math.min(out[id] / penalty, FLOAT32_MAX) : out[id] * penalty;
  return out;
}

/** Whether token a ranks before token b: higher score first, lower id on ties. */
function ranksBefore(scores: Float32Array, a: number, b: number): boolean {
  return scores[a] > scores[b] || (scores[a] === scores[b] && a < b);
}

/**
 * Buffers reused by every call: sampling runs per row per decode step on the JavaScript
 * thread, and fresh vocabulary-sized arrays each time would only feed the garbage
 * collector. Safe because sampleToken is synchronous and its results are plain numbers.
 */
const scratch = (() => {
  let keys = new Float64Array(0);
  let ids = new Int32Array(0);
  let probs = new Float64Array(0);
  let weights = new Float64Array(0);
  let penalized = new Float32Array(0);
  return {
    keys: (n: number) => (keys.length >= n ? keys : (keys = new Float64Array(n))).subarray(0, n),
    ids: (n: number) => (ids.length >= n ? ids : (ids = new Int32Array(n))).subarray(0, n),
    probs: (n: number) => (probs.length >= n ? probs : (probs = new Float64Array(n))).subarray(0, n),
    weights: (n: number) => (weights.length >= n ? weights : (weights = new Float64Array(n))).subarray(0, n),
    penalized: (n: number) => (penalized.length >= n ? penalized : (penalized = new Float32Array(n))).subarray(0, n),
  };
})();

/** Largest vocabulary rankIds can order: ids take the low 21 bits of a 53-bit integer key. */
const MAX_RANKED_IDS = 2 ** 21;

/**
 * `ids` by rank (see ranksBefore), through one native sort of numeric keys instead of a
 * comparator sort of ids (~6x faster on a 32k vocabulary: this runs per token on the
 * JavaScript thread). A key is the score's bits mapped to an unsigned order, inverted so
 * the best sorts first, times 2^21, plus the id: exact in a double, ties by lower id.
 */
function rankIds(scores: Float32Array, ids: Int32Array): Int32Array {
  if (scores.length > MAX_RANKED_IDS) return ids.sort((a, b) => (ranksBefore(scores, a, b) ? -1 : 1));
  const bits = new Uint32Array(scores.buffer, scores.byteOffset, scores.length);
  const keys = scratch.keys(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    const b = bits[id] === 0x80000000 ? 0 : bits[id];  // -0 ranks as +0 (they compare equal)
    const ordered = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;  // ascending with the float's value
    keys[i] = (0xffffffff - ordered) * MAX_RANKED_IDS + id;
  }
  keys.sort();
  for (let i = 0; i < ids.length; i++) ids[i] = keys[i] % MAX_RANKED_IDS;
  return ids;
}

/** Weights exp((score - top) / temperature) of the given ids (top-k's few), summed in id order. */
function weightTotal(scores: Float32Array, ids: ArrayLike<number>, top: number, temperature: number): number {
  const sorted = scratch.ids(ids.length);
  for (let i = 0; i < ids.length; i++) sorted[i] = ids[i];
  sorted.sort();
  let total = 0;
  for (let i = 0; i < sorted.length; i++) total += Math.exp((scores[sorted[i]] - top) / temperature);
  return total;
}

/**
 * Sampling from the whole vocabulary (no top-k): the ids that top-p and min-p can keep,
 * by rank, and the total weight of every token (summed in id order). Only tokens whose
 * weight reaches a cutoff are ranked: the min-p floor, raised to the largest power of ten
 * whose tokens already hold the top-p mass. They are a prefix of the full ranking that
 * holds every token the filters keep, so the draw is the one a full sort gives, for the
 * cost of sorting a few ids instead of 32k (~6 ms per token on the JavaScript thread).
 */
function nucleus(scores: Float32Array, top: number, s: SamplingSettings): { order: Int32Array; total: number } {
  const weights = scratch.weights(scores.length);
  let total = 0;
  for (let id = 0; id < scores.length; id++) total += weights[id] = Math.exp((scores[id] - top) / s.temperature);
  let cutoff = s.minP;  // the top token weighs exactly 1
  // A margin over top-p: the filter's running sum, in rank order, must cross it inside the prefix.
  const needed = (s.topP + 1e-9) * total;
  for (let c = 0.1; s.topP < 1 && c > cutoff && c > 1e-30; c /= 10) {
    let mass = 0;
    for (let id = 0; id < weights.length; id++) if (weights[id] >= c) mass += weights[id];
    if (mass >= needed) {
      cutoff = c;
      break;
    }
  }
  const ids = scratch.ids(weights.length);
  let count = 0;
  for (let id = 0; id < weights.length; id++) if (weights[id] >= cutoff) ids[count++] = id;
  return { order: rankIds(scores, ids.subarray(0, count)), total };
}

/**
 * The best `k` token ids by rank (see ranksBefore), for 0 < k < vocabulary size. Selecting
 * k of a 32k vocabulary is ~25x cheaper than sorting it, and this runs per token.
 */
function ranked(scores: Float32Array, k: number): number[] {
  const best: number[] = [];
  let floor = -Infinity;  // the k-th best score once there are k: a later id must beat it
  for (let id = 0; id < scores.length; id++) {
    if (best.length === k && !(scores[id] > floor)) continue;
    let lo = 0;
    let hi = best.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ranksBefore(scores, best[mid], id)) lo = mid + 1;
      else hi = mid;
    }
    best.splice(lo, 0, id);
    if (best.length > k) best.pop();
    if (best.length === k) floor = scores[best[k - 1]];
  }
  return best;
}

/**
 * Picks the next token: repetition penalty, then greedy when temperature is 0, else
 * temperature -> top-k -> top-p -> min-p -> a draw from the renormalized distribution.
 */
export function sampleToken(logits: Float32Array, s: SamplingSettings, seen: ReadonlySet<number>, rng: Rng): number {
  const scores = penalize(logits, seen, s.repetitionPenalty);
  const best = argmax(scores);
  // A best score that is not finite (NaN or Infinity from a broken checkpoint) has no distribution.
  if (s.temperature === 0 || !Number.isFinite(scores[best])) return best;
  let order: ArrayLike<number>;
  let total: number;
  if (s.topK > 0 && s.topK < scores.length) {
    order = ranked(scores, s.topK);
    total = weightTotal(scores, order, scores[order[0]], s.temperature);
  } else {
    ({ order, total } = nucleus(scores, scores[best], s));
  }
  const top = scores[order[0]];
  // Typed arrays and plain loops: on a whole vocabulary, array methods cost more than the math.
  const probs = scratch.probs(order.length);
  for (let i = 0; i < order.length; i++) probs[i] = Math.exp((scores[order[i]] - top) / s.temperature);
  let keep = order.length;
  if (s.topP < 1) {
    let cumulative = 0;
    for (let i = 0; i < order.length; i++) {
      cumulative += probs[i] / total;
      if (cumulative >= s.topP) {
        keep = i + 1;
        break;
      }
    }
  }
  if (s.minP > 0) {
    const floor = s.minP * probs[0];
    while (keep > 1 && probs[keep - 1] < floor) keep--;
  }
  let keptMass = 0;
  for (let i = 0; i < keep; i++) keptMass += probs[i];
  let r = rng.next() * keptMass;
  for (let i = 0; i < keep; i++) {
    r -= probs[i];
    if (r < 0) return order[i];
  }
  return order[keep - 1];
}
