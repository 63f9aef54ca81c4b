// Minimal, independent safetensors + config.json reader for the reference implementation.
//
// Written from the file format only (it must not share code with lib/ or native/):
//   8 bytes  little-endian u64 N = length of the JSON header
//   N bytes  JSON: { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: {...} }
//   rest     raw tensor bytes; offsets are relative to the start of this data section
// Every tensor is converted to Float64Array (F32, F16 and BF16 convert exactly).

import * as fs from 'fs';
import * as path from 'path';

export interface RefTensor {
  dtype: string;
  shape: number[];
  data: Float64Array;
}

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

/** IEEE half-precision bits -> number (exact). */
export function halfBitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * Math.pow(2, -24);
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * Math.pow(2, exp - 15);
}

/** bfloat16 bits -> number (exact): the upper half of a float32. */
export function bf16BitsToNumber(b: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setUint32(0, (b & 0xffff) << 16 >>> 0, true);
  return dv.getFloat32(0, true);
}

export function readSafetensors(file: string): Map<string, RefTensor> {
  const buf = fs.readFileSync(file);
  if (buf.length < 8) throw new Error(`${file}: too short for a safetensors file`);
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (headerLen > buf.length - 8) throw new Error(`${file}: header length ${headerLen} exceeds file`);
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, any>;
  const dataStart = 8 + headerLen;
  const dataLen = buf.length - dataStart;
  const out = new Map<string, RefTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const dtype = String(info.dtype);
    const size = BYTES[dtype];
    if (!size) throw new Error(`${file}: tensor ${name} has unsupported dtype ${dtype}`);
    const shape = (info.shape as number[]).map(Number);
    const count = shape.reduce((a, b) => a * b, 1);
    const [begin, end] = (info.data_offsets as number[]).map(Number);
    if (!(begin >= 0 && end >= begin && end <= dataLen)) throw new Error(`${file}: tensor ${name} offsets out of range`);
    if (end - begin !== count * size) throw new Error(`${file}: tensor ${name} byte size does not match shape`);
    const data = new Float64Array(count);
    const base = dataStart + begin;
    for (let i = 0; i < count; i++) {
      if (dtype === 'F32') data[i] = buf.readFloatLE(base + 4 * i);
      else if (dtype === 'F16') data[i] = halfBitsToNumber(buf.readUInt16LE(base + 2 * i));
      else data[i] = bf16BitsToNumber(buf.readUInt16LE(base + 2 * i));
    }
    out.set(name, { dtype, shape, data });
  }
  return out;
}

/** All tensors of a checkpoint directory (single file or index + shards). */
export function readCheckpointTensors(dir: string): Map<string, RefTensor> {
  const indexFile = path.join(dir, 'model.safetensors.index.json');
  if (fs.existsSync(indexFile)) {
    const index = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
    const shards = new Set<string>(Object.values(index.weight_map as Record<string, string>));
    const all = new Map<string, RefTensor>();
    for (const shard of shards) {
      const tensors = readSafetensors(path.join(dir, shard));
      for (const [name, t] of tensors) {
        if (index.weight_map[name] !== shard) throw new Error(`${shard}: tensor ${name} not listed for this shard`);
        all.set(name, t);
      }
    }
    for (const name of Object.keys(index.weight_map)) {
      if (!all.has(name)) throw new Error(`index lists ${name} but no shard holds it`);
    }
    return all;
  }
  return readSafetensors(path.join(dir, 'model.safetensors'));
}

export function readConfig(dir: string): Record<string, any> {
  return JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
}
