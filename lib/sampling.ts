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

/** Applies the repetition penalty (as Hugging Face does) to a copy of the logits. */
function penalize(logits: Float32Array, seen: ReadonlySet<number>, penalty: number): Float32Array {
  if (penalty === 1) return logits;
  const out = Float32Array.from(logits);
  for (const id of seen) out[id] = out[id] > 0 ? out[id] / penalty : out[id] * penalty;
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
  return {
    keys: (n: number) => (keys.length >= n ? keys : (keys = new Float64Array(n))).subarray(0, n),
    ids: (n: number) => (ids.length >= n ? ids : (ids = new Int32Array(n))).subarray(0, n),
    probs: (n: number) => (probs.length >= n ? probs : (probs = new Float64Array(n))).subarray(0, n),
  };
})();

/** Largest vocabulary rankAll can order: ids take the low 21 bits of a 53-bit integer key. */
const MAX_RANKED_IDS = 2 ** 21;

/**
 * Every id by rank (see ranksBefore), through one native sort of numeric keys instead of a
 * comparator sort of ids (~6x faster on a 32k vocabulary: this runs per token on the
 * JavaScript thread). A key is the score's bits mapped to an unsigned order, inverted so
 * the best sorts first, times 2^21, plus the id: exact in a double, ties by lower id.
 */
function rankAll(scores: Float32Array): Int32Array {
  if (scores.length > MAX_RANKED_IDS)
    return Int32Array.from(Array.from(scores.keys()).sort((a, b) => (ranksBefore(scores, a, b) ? -1 : 1)));
  const bits = new Uint32Array(scores.buffer, scores.byteOffset, scores.length);
  const keys = scratch.keys(scores.length);
  for (let id = 0; id < scores.length; id++) {
    const b = bits[id] === 0x80000000 ? 0 : bits[id];  // -0 ranks as +0 (they compare equal)
    const ordered = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;  // ascending with the float's value
    keys[id] = (0xffffffff - ordered) * MAX_RANKED_IDS + id;
  }
  keys.sort();
  const ids = scratch.ids(scores.length);
  for (let i = 0; i < ids.length; i++) ids[i] = keys[i] % MAX_RANKED_IDS;
  return ids;
}

/**
 * Token ids by rank (see ranksBefore), the best `k` only when 0 < k < vocabulary size.
 * Selecting k of a 32k vocabulary is ~25x cheaper than sorting it, and this runs per token.
 */
function ranked(scores: Float32Array, k: number): ArrayLike<number> {
  if (!(k > 0 && k < scores.length)) return rankAll(scores);
  const best: number[] = [];
  for (let id = 0; id < scores.length; id++) {
    if (best.length === k && !ranksBefore(scores, id, best[k - 1])) continue;
    let lo = 0;
    let hi = best.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ranksBefore(scores, best[mid], id)) lo = mid + 1;
      else hi = mid;
    }
    best.splice(lo, 0, id);
    if (best.length > k) best.pop();
  }
  return best;
}

/**
 * Picks the next token: repetition penalty, then greedy when temperature is 0, else
 * temperature -> top-k -> top-p -> min-p -> a draw from the renormalized distribution.
 */
export function sampleToken(logits: Float32Array, s: SamplingSettings, seen: ReadonlySet<number>, rng: Rng): number {
  const scores = penalize(logits, seen, s.repetitionPenalty);
  if (s.temperature === 0) return argmax(scores);
  const order = ranked(scores, s.topK);
  const top = scores[order[0]];
  // Typed arrays and plain loops: on a whole vocabulary, array methods cost more than the math.
  const probs = scratch.probs(order.length);
  let total = 0;
  for (let i = 0; i < order.length; i++) total += probs[i] = Math.exp((scores[order[i]] - top) / s.temperature);
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
