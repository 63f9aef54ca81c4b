// Reference Llama / LCKV forward pass in plain float64 TypeScript.
//
// This is the ground truth the native engine is tested against. It is written only from
// the math in shared/ARCHITECTURE.md §3-4 and deliberately favours obviousness over speed:
// one token vector at a time, simple loops, float64 everywhere, no code shared with lib/
// or native/.

import { readCheckpointTensors, readConfig, RefTensor } from './safetensors';

export type PrefillMode = 'sequential' | 'iterative';

export interface RefOptions {
  /** How a multi-token chunk is processed. Default 'sequential'. */
  mode?: PrefillMode;
  /** Number of passes over each cyclic group in 'iterative' mode (required there). */
  passes?: number;
}

export interface RefLayer {
  /** Target layer u(i) whose K/V this layer's queries attend to. */
  target: number;
  /** Sliding-window attention (suffix "s" in layer_types). */
  sliding: boolean;
  /** This layer is some layer's target: it computes and caches K/V. */
  computesKV: boolean;
  inputNorm: Float64Array;
  postNorm: Float64Array;
  q: Float64Array; // [nHeads*headDim, hidden]
  k: Float64Array | null; // [nKv*headDim, hidden]
  v: Float64Array | null;
  o: Float64Array; // [hidden, nHeads*headDim]
  gate: Float64Array; // [inter, hidden]
  up: Float64Array; // [inter, hidden]
  down: Float64Array; // [hidden, inter]
}

export type PlanStep = { kind: 'ordinary' | 'cyclic'; start: number; end: number };

export interface RefModel {
  config: Record<string, any>;
  hidden: number;
  inter: number;
  nLayers: number;
  nHeads: number;
  nKv: number;
  headDim: number;
  vocab: number;
  eps: number;
  theta: number;
  window: number;
  forceNodiag: boolean;
  layers: RefLayer[];
  embed: Float64Array; // [vocab, hidden]
  finalNorm: Float64Array;
  lmHead: Float64Array; // [vocab, hidden]
  plan: PlanStep[];
}

// ---------------------------------------------------------------------------------------
// layer_types and the iteration plan

export function parseLayerTypes(spec: string | undefined, nLayers: number): { target: number; sliding: boolean }[] {
  if (spec === undefined || spec === null) {
    return Array.from({ length: nLayers }, (_, i) => ({ target: i, sliding: false }));
  }
  if (!/^\d+s?(_\d+s?)*$/.test(spec)) throw new Error(`bad layer_types ${JSON.stringify(spec)}`);
  const entries = spec.split('_').map((e) => ({ target: parseInt(e, 10), sliding: e.endsWith('s') }));
  if (entries.length !== nLayers) throw new Error(`layer_types has ${entries.length} entries for ${nLayers} layers`);
  for (const e of entries) if (e.target >= nLayers) throw new Error(`layer_types target ${e.target} out of range`);
  return entries;
}

/**
 * Scan bottom-up: maximal runs of layers with u(i) <= i are ordinary segments; at a layer
 * with u(i) > i a cyclic group starts and grows until it contains every target of its members.
 */
export function iterationPlan(targets: number[]): PlanStep[] {
  const plan: PlanStep[] = [];
  let i = 0;
  while (i < targets.length) {
    if (targets[i] > i) {
      let top = targets[i];
      for (;;) {
        let m = top;
        for (let j = i; j <= top; j++) m = Math.max(m, targets[j]);
        if (m > top) top = m;
        else break;
      }
      plan.push({ kind: 'cyclic', start: i, end: top });
      i = top + 1;
    } else {
      const start = i;
      while (i < targets.length && targets[i] <= i) i++;
      plan.push({ kind: 'ordinary', start, end: i - 1 });
    }
  }
  return plan;
}

// ---------------------------------------------------------------------------------------
// loading

export function loadReference(dir: string): RefModel {
  const config = readConfig(dir);
  const tensors = readCheckpointTensors(dir);
  const get = (name: string, shape: number[]): Float64Array => {
    const t: RefTensor | undefined = tensors.get(name);
    if (!t) throw new Error(`missing tensor ${name}`);
    if (t.shape.length !== shape.length || t.shape.some((d, k) => d !== shape[k])) {
      throw new Error(`tensor ${name} has shape [${t.shape}] but [${shape}] expected`);
    }
    return t.data;
  };
  if (config.rope_scaling) throw new Error('reference does not implement rope_scaling');
  const hidden: number = config.hidden_size;
  const nHeads: number = config.num_attention_heads;
  const nKv: number = config.num_key_value_heads ?? nHeads;
  const headDim: number = config.head_dim ?? hidden / nHeads;
  const inter: number = config.intermediate_size;
  const nLayers: number = config.num_hidden_layers;
  const vocab: number = config.vocab_size;
  const isLckv = config.model_type === 'lckv-llama';
  const types = parseLayerTypes(isLckv ? config.layer_types : undefined, nLayers);
  const targets = types.map((t) => t.target);
  const isTarget = new Array(nLayers).fill(false);
  for (const t of targets) isTarget[t] = true;
  if (types.some((t) => t.sliding) && !(config.sliding_window > 0)) throw new Error('sliding layers need sliding_window');

  const layers: RefLayer[] = [];
  for (let i = 0; i < nLayers; i++) {
    const p = `model.layers.${i}.`;
    layers.push({
      target: targets[i],
      sliding: types[i].sliding,
      computesKV: isTarget[i],
      inputNorm: get(p + 'input_layernorm.weight', [hidden]),
      postNorm: get(p + 'post_attention_layernorm.weight', [hidden]),
      q: get(p + 'self_attn.q_proj.weight', [nHeads * headDim, hidden]),
      k: isTarget[i] ? get(p + 'self_attn.k_proj.weight', [nKv * headDim, hidden]) : null,
      v: isTarget[i] ? get(p + 'self_attn.v_proj.weight', [nKv * headDim, hidden]) : null,
      o: get(p + 'self_attn.o_proj.weight', [hidden, nHeads * headDim]),
      gate: get(p + 'mlp.gate_proj.weight', [inter, hidden]),
      up: get(p + 'mlp.up_proj.weight', [inter, hidden]),
      down: get(p + 'mlp.down_proj.weight', [hidden, inter]),
    });
  }
  const embed = get('model.embed_tokens.weight', [vocab, hidden]);
  const lmHead = tensors.has('lm_head.weight')
    ? get('lm_head.weight', [vocab, hidden])
    : config.tie_word_embeddings
      ? embed
      : (() => {
          throw new Error('lm_head.weight missing and embeddings not tied');
        })();
  return {
    config,
    hidden,
    inter,
    nLayers,
    nHeads,
    nKv,
    headDim,
    vocab,
    eps: config.rms_norm_eps ?? 1e-6,
    theta: config.rope_theta ?? 10000,
    window: isLckv ? config.sliding_window ?? 0 : 0,
    forceNodiag: isLckv && !!config.force_nodiag,
    layers,
    embed,
    finalNorm: get('model.norm.weight', [hidden]),
    lmHead,
    plan: iterationPlan(targets),
  };
}

// ---------------------------------------------------------------------------------------
// math helpers

/** y = W x, W stored row-major [rows, cols]. */
function matvec(W: Float64Array, x: Float64Array, rows: number, cols: number): Float64Array {
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const base = r * cols;
    for (let c = 0; c < cols; c++) s += W[base + c] * x[c];
    y[r] = s;
  }
  return y;
}

function rmsnorm(x: Float64Array, w: Float64Array, eps: number): Float64Array {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i];
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i] * inv * w[i];
  return y;
}

/** Hugging Face "rotate half" RoPE, in place, on nHeads consecutive heads of size headDim. */
function rope(x: Float64Array, nHeads: number, headDim: number, pos: number, theta: number): void {
  const half = headDim / 2;
  for (let h = 0; h < nHeads; h++) {
    const b = h * headDim;
    for (let i = 0; i < half; i++) {
      const invFreq = Math.pow(theta, (-2 * i) / headDim);
      const angle = pos * invFreq;
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      const a = x[b + i];
      const bb = x[b + i + half];
      x[b + i] = a * c - bb * s;
      x[b + i + half] = bb * c + a * s;
    }
  }
}

const silu = (x: number): number => x / (1 + Math.exp(-x));

// ---------------------------------------------------------------------------------------
// the KV cache and a session

/** Per K/V layer, per absolute position: the (post-RoPE) key and the value. */
interface LayerKV {
  k: Float64Array[];
  v: Float64Array[];
}

export class RefSession {
  readonly model: RefModel;
  /** Number of positions already in the cache. */
  length = 0;
  private kv: (LayerKV | null)[];

  constructor(model: RefModel) {
    this.model = model;
    this.kv = model.layers.map((l) => (l.computesKV ? { k: [], v: [] } : null));
  }

  /**
   * Feed tokens after the cached prefix; returns float64 logits [n * vocab] for every new position.
   */
  feed(tokens: number[], opts: RefOptions = {}): Float64Array {
    const m = this.model;
    const n = tokens.length;
    const start = this.length;
    const mode = opts.mode ?? 'sequential';
    let hs: Float64Array[] = tokens.map((tok) => {
      if (!(Number.isInteger(tok) && tok >= 0 && tok < m.vocab)) throw new Error(`token ${tok} out of range`);
      return m.embed.slice(tok * m.hidden, (tok + 1) * m.hidden);
    });

    if (mode === 'sequential') {
      // Token by token; within a token, layers bottom-up.
      for (let t = 0; t < n; t++) {
        const one = [hs[t]];
        for (let i = 0; i < m.nLayers; i++) this.runLayer(i, one, start + t);
        hs[t] = one[0];
      }
    } else if (mode === 'iterative') {
      const passes = opts.passes;
      if (!(typeof passes === 'number' && passes >= 1)) throw new Error('iterative mode needs passes >= 1');
      for (const step of m.plan) {
        if (step.kind === 'ordinary') {
          // All n tokens in parallel, layer by layer.
          for (let i = step.start; i <= step.end; i++) this.runLayer(i, hs, start);
        } else {
          // Cyclic group: the group's K/V for the new positions start as zeros.
          for (let i = step.start; i <= step.end; i++) {
            const kv = this.kv[i];
            if (!kv) continue;
            for (let t = 0; t < n; t++) {
              kv.k[start + t] = new Float64Array(m.nKv * m.headDim);
              kv.v[start + t] = new Float64Array(m.nKv * m.headDim);
            }
          }
          const input = hs.map((h) => h.slice());
          let cur: Float64Array[] = input;
          for (let pass = 0; pass < passes; pass++) {
            cur = input.map((h) => h.slice()); // every pass starts from the same group input
            for (let i = step.start; i <= step.end; i++) this.runLayer(i, cur, start);
          }
          hs = cur;
        }
      }
    } else {
      throw new Error(`unknown mode ${mode}`);
    }
    this.length = start + n;

    const logits = new Float64Array(n * m.vocab);
    for (let t = 0; t < n; t++) {
      const x = rmsnorm(hs[t], m.finalNorm, m.eps);
      logits.set(matvec(m.lmHead, x, m.vocab, m.hidden), t * m.vocab);
    }
    return logits;
  }

  /**
   * Run layer i over hidden states hs (positions start .. start+hs.length-1), in place.
   * A K/V layer first (over)writes its K/V for those positions, then every token attends to
   * whatever its target layer's cache holds at the positions its mask allows.
   */
  private runLayer(i: number, hs: Float64Array[], start: number): void {
    const m = this.model;
    const L = m.layers[i];
    const qDim = m.nHeads * m.headDim;
    const kvDim = m.nKv * m.headDim;
    const xs = hs.map((h) => rmsnorm(h, L.inputNorm, m.eps));
    const kvSelf = this.kv[i];
    if (L.computesKV && kvSelf) {
      for (let t = 0; t < hs.length; t++) {
        const k = matvec(L.k!, xs[t], kvDim, m.hidden);
        rope(k, m.nKv, m.headDim, start + t, m.theta);
        kvSelf.k[start + t] = k;
        kvSelf.v[start + t] = matvec(L.v!, xs[t], kvDim, m.hidden);
      }
    }
    const target = this.kv[L.target];
    if (!target) throw new Error(`layer ${L.target} is a target but keeps no K/V`);
    const noDiag = L.target > i || m.forceNodiag;
    const groupSize = m.nHeads / m.nKv;
    const scale = 1 / Math.sqrt(m.headDim);

    for (let t = 0; t < hs.length; t++) {
      const pos = start + t;
      const q = matvec(L.q, xs[t], qDim, m.hidden);
      rope(q, m.nHeads, m.headDim, pos, m.theta);
      // Allowed positions.
      const allowed: number[] = [];
      for (let p = 0; p <= pos; p++) {
        if (noDiag && p === pos) continue;
        if (L.sliding && !(pos - m.window < p)) continue;
        allowed.push(p);
      }
      const attn = new Float64Array(qDim); // zero if no position is allowed
      for (let h = 0; h < m.nHeads; h++) {
        const kh = Math.floor(h / groupSize);
        if (allowed.length === 0) continue;
        const scores = allowed.map((p) => {
          const k = target.k[p];
          if (!k) throw new Error(`layer ${L.target} has no K/V for position ${p}`);
          let s = 0;
          for (let d = 0; d < m.headDim; d++) s += q[h * m.headDim + d] * k[kh * m.headDim + d];
          return s * scale;
        });
        const mx = Math.max(...scores);
        const w = scores.map((s) => Math.exp(s - mx));
        const sum = w.reduce((a, b) => a + b, 0);
        for (let a = 0; a < allowed.length; a++) {
          const v = target.v[allowed[a]];
          const wt = w[a] / sum;
          for (let d = 0; d < m.headDim; d++) attn[h * m.headDim + d] += wt * v[kh * m.headDim + d];
        }
      }
      const o = matvec(L.o, attn, m.hidden, qDim);
      const h1 = new Float64Array(m.hidden);
      for (let d = 0; d < m.hidden; d++) h1[d] = hs[t][d] + o[d];
      const x2 = rmsnorm(h1, L.postNorm, m.eps);
      const g = matvec(L.gate, x2, m.inter, m.hidden);
      const u = matvec(L.up, x2, m.inter, m.hidden);
      const act = new Float64Array(m.inter);
      for (let j = 0; j < m.inter; j++) act[j] = silu(g[j]) * u[j];
      const dn = matvec(L.down, act, m.hidden, m.inter);
      for (let d = 0; d < m.hidden; d++) h1[d] += dn[d];
      hs[t] = h1;
    }
  }
}

// ---------------------------------------------------------------------------------------
// convenience API

/** True when some layer attends upward (the model has a cyclic group). */
export function hasCyclicGroup(m: RefModel): boolean {
  return m.layers.some((l, i) => l.target > i);
}

/** forward_passes + backward_passes of the config (7 + 2 when absent, as in the paper's code). */
export function configPasses(m: RefModel): number {
  return (m.config.forward_passes ?? 7) + (m.config.backward_passes ?? 2);
}

/**
 * The 'auto' rule of ARCHITECTURE §4 as spelled out for the runtime: sequential when
 * use_sequential, or n <= m+b and some layer attends upward; else iterative with m+b passes.
 */
export function autoOptions(m: RefModel, n: number): Required<RefOptions> {
  const mb = configPasses(m);
  if (m.config.use_sequential || (n <= mb && hasCyclicGroup(m))) return { mode: 'sequential', passes: mb };
  return { mode: 'iterative', passes: mb };
}

/** Logits [n * vocab] of every position of tokens, starting from an empty cache. */
export function referenceLogits(m: RefModel, tokens: number[], opts: RefOptions = {}): Float32Array {
  return Float32Array.from(new RefSession(m).feed(tokens, opts));
}

function argmax(a: Float64Array, from: number, len: number): number {
  let best = 0;
  for (let j = 1; j < len; j++) if (a[from + j] > a[from + best]) best = j;
  return best;
}

export interface GreedyResult {
  tokens: number[];
  /** Gap between the best and second-best logit at each step (to recognise near-ties). */
  margins: number[];
  /** Float64 logits row that chose each token. */
  rows: Float64Array[];
}

/**
 * Prefill promptTokens (mode/passes), then decode maxTokens tokens greedily one at a time
 * (sequential). EOS is NOT treated specially: exactly maxTokens ids are returned.
 */
export function referenceGreedyDetailed(
  m: RefModel,
  promptTokens: number[],
  maxTokens: number,
  opts: RefOptions = {},
  session?: RefSession,
): GreedyResult {
  const s = session ?? new RefSession(m);
  let logits = s.feed(promptTokens, opts);
  let row = logits.subarray((promptTokens.length - 1) * m.vocab, promptTokens.length * m.vocab);
  const out: GreedyResult = { tokens: [], margins: [], rows: [] };
  for (let step = 0; step < maxTokens; step++) {
    const tok = argmax(row, 0, m.vocab);
    let second = -Infinity;
    for (let j = 0; j < m.vocab; j++) if (j !== tok && row[j] > second) second = row[j];
    out.tokens.push(tok);
    out.margins.push(row[tok] - second);
    out.rows.push(row.slice());
    if (step + 1 === maxTokens) break;
    logits = s.feed([tok], { mode: 'sequential' });
    row = logits.subarray(0, m.vocab);
  }
  return out;
}

export function referenceGreedy(m: RefModel, promptTokens: number[], maxTokens: number, opts: RefOptions = {}): number[] {
  return referenceGreedyDetailed(m, promptTokens, maxTokens, opts).tokens;
}
