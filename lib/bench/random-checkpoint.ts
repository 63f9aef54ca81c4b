import * as fs from 'node:fs';
import * as path from 'node:path';

/** Shape of a random Llama/LCKV checkpoint for benchmarks. */
export interface RandomShape {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  vocabSize: number;
  maxPositions: number;
  /** Omitted or identity: a standard Llama. */
  layerTypes?: string;
  forwardPasses?: number;
  backwardPasses?: number;
}

export type WeightDtype = 'F32' | 'F16' | 'BF16';

/** ~127M parameters: hidden 768, 12 layers, 12 heads, 6 KV heads, ffn 2048, vocab 32000. */
export const BENCH_SHAPE: RandomShape = {
  hiddenSize: 768,
  intermediateSize: 2048,
  numLayers: 12,
  numHeads: 12,
  numKvHeads: 6,
  vocabSize: 32000,
  maxPositions: 4096,
};

/** LCKV with warmup layers for a model of `layers` layers: 0_{L-2}_..._{L-2}_{L-1}. */
export function warmupLayerTypes(layers: number): string {
  return [0, ...Array(layers - 2).fill(layers - 2), layers - 1].join('_');
}

function f32ToHalfBits(f: Float32Array, u: Uint32Array, dtype: WeightDtype, out: Buffer): void {
  for (let i = 0; i < f.length; i++) {
    const x = u[i];
    if (dtype === 'BF16') {
      out.writeUInt16LE(x >>> 16, 2 * i);
      continue;
    }
    // Values here are small and normal: rebias the exponent, truncate the mantissa.
    const sign = (x >>> 16) & 0x8000;
    const exp = ((x >>> 23) & 0xff) - 112;
    out.writeUInt16LE(exp <= 0 ? sign : sign | (exp << 10) | ((x >>> 13) & 0x3ff), 2 * i);
  }
}

/** Writes config.json and model.safetensors with uniform random weights, streaming to disk. */
export function writeRandomCheckpoint(dir: string, shape: RandomShape, dtype: WeightDtype, seed = 1): void {
  fs.mkdirSync(dir, { recursive: true });
  const { hiddenSize: d, intermediateSize: ffn, numHeads: h, numKvHeads: kvh, vocabSize: v } = shape;
  const hd = d / h;
  const targets = new Set((shape.layerTypes ?? '').split('_').filter(Boolean).map((s) => parseInt(s, 10)));
  const tensors: [string, number[]][] = [['model.embed_tokens.weight', [v, d]]];
  for (let i = 0; i < shape.numLayers; i++) {
    const p = `model.layers.${i}.`;
    tensors.push([p + 'input_layernorm.weight', [d]], [p + 'self_attn.q_proj.weight', [h * hd, d]]);
    if (!shape.layerTypes || targets.has(i))
      tensors.push([p + 'self_attn.k_proj.weight', [kvh * hd, d]], [p + 'self_attn.v_proj.weight', [kvh * hd, d]]);
    tensors.push(
      [p + 'self_attn.o_proj.weight', [d, h * hd]],
      [p + 'post_attention_layernorm.weight', [d]],
      [p + 'mlp.gate_proj.weight', [ffn, d]],
      [p + 'mlp.up_proj.weight', [ffn, d]],
      [p + 'mlp.down_proj.weight', [d, ffn]],
    );
  }
  tensors.push(['model.norm.weight', [d]], ['lm_head.weight', [v, d]]);

  const bytes = dtype === 'F32' ? 4 : 2;
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, s] of tensors) {
    const n = s.reduce((a, b) => a * b, 1) * bytes;
    header[name] = { dtype, shape: s, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const fd = fs.openSync(path.join(dir, 'model.safetensors'), 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    fs.writeSync(fd, len);
    fs.writeSync(fd, json);
    let state = seed >>> 0;
    const chunk = new Float32Array(1 << 16);
    const bits = new Uint32Array(chunk.buffer);
    const half = Buffer.alloc(chunk.length * 2);
    for (const [, s] of tensors) {
      const count = s.reduce((a, b) => a * b, 1);
      const isNorm = s.length === 1;
      const scale = isNorm ? 0 : Math.sqrt(3 / s[1]);
      for (let done = 0; done < count; done += chunk.length) {
        const m = Math.min(chunk.length, count - done);
        for (let i = 0; i < m; i++) {
          state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
          chunk[i] = isNorm ? 1 : (state / 2147483648 - 1) * scale;
        }
        const view = chunk.subarray(0, m);
        if (dtype === 'F32') fs.writeSync(fd, new Uint8Array(view.buffer, 0, m * 4));
        else {
          f32ToHalfBits(view, bits.subarray(0, m), dtype, half);
          fs.writeSync(fd, half, 0, m * 2);
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  const lckv = shape.layerTypes !== undefined;
  const config = {
    model_type: lckv ? 'lckv-llama' : 'llama',
    hidden_size: d,
    intermediate_size: ffn,
    num_hidden_layers: shape.numLayers,
    num_attention_heads: h,
    num_key_value_heads: kvh,
    vocab_size: v,
    max_position_embeddings: shape.maxPositions,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: false,
    ...(lckv ? { layer_types: shape.layerTypes, forward_passes: shape.forwardPasses ?? 7, backward_passes: shape.backwardPasses ?? 2 } : {}),
  };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
}
