import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LckvError } from './errors';
import { openRegularFile, readJsonObject } from './files';
import type { NativeTensor } from './native';

/** The weights of a checkpoint: files to map and validated tensor locations in them. */
export interface CheckpointFiles {
  files: string[];
  tensors: NativeTensor[];
}

const DTYPE_BYTES = { F32: 4, F16: 2, BF16: 2 } as const;
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const PICKLE = /\.(bin|pt|pth|ckpt|pkl)$/i;

function invalid(file: string, message: string): never {
  throw new LckvError('INVALID_SAFETENSORS', `${path.basename(file)}: ${message}`);
}

async function readExactly(handle: fs.FileHandle, length: number, position: number, file: string): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buf, 0, length, position);
  if (bytesRead !== length) throw new LckvError('TRUNCATED_FILE', `${path.basename(file)} ends early`);
  return buf;
}

function isDim(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Reads and checks one safetensors header against the file it describes. */
export async function readSafetensorsHeader(file: string, fileIndex: number): Promise<NativeTensor[]> {
  const handle = await openRegularFile(file);
  if (!handle) throw new LckvError('FILE_NOT_FOUND', `${file} does not exist`);
  try {
    const size = (await handle.stat()).size;
    if (size < 8) throw new LckvError('TRUNCATED_FILE', `${path.basename(file)} is ${size} bytes, too short for a safetensors header`);
    const headerLength = (await readExactly(handle, 8, 0, file)).readBigUInt64LE(0);
    if (headerLength > BigInt(size - 8)) throw new LckvError('TRUNCATED_FILE', `${path.basename(file)}: header runs past the end of the file`);
    if (headerLength > BigInt(MAX_HEADER_BYTES)) invalid(file, 'header is implausibly large');
    const n = Number(headerLength);
    let header: unknown;
    try {
      header = JSON.parse((await readExactly(handle, n, 8, file)).toString('utf8'));
    } catch (err) {
      if (err instanceof LckvError) throw err;
      invalid(file, 'header is not valid JSON');
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) invalid(file, 'header is not a JSON object');
    return tensorsFromHeader(file, fileIndex, header as Record<string, unknown>, 8 + n, size - 8 - n);
  } finally {
    await handle.close();
  }
}

function tensorsFromHeader(
  file: string,
  fileIndex: number,
  header: Record<string, unknown>,
  dataStart: number,
  dataBytes: number,
): NativeTensor[] {
  const tensors: (NativeTensor & { begin: number })[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) invalid(file, `${name} is not an object`);
    if (typeof e.dtype !== 'string') invalid(file, `${name} has no dtype`);
    if (!(e.dtype in DTYPE_BYTES))
      throw new LckvError('UNSUPPORTED_DTYPE', `${path.basename(file)}: ${name} has dtype ${e.dtype} (F32, F16, BF16 are supported)`);
    const dtype = e.dtype as NativeTensor['dtype'];
    if (!Array.isArray(e.shape) || !e.shape.every(isDim)) invalid(file, `${name} has a bad shape`);
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isDim) || offsets[0] > offsets[1])
      invalid(file, `${name} has bad data_offsets`);
    const [begin, end] = offsets as [number, number];
    if (end > dataBytes) throw new LckvError('TRUNCATED_FILE', `${path.basename(file)}: ${name} lies past the end of the file`);
    const elements = (e.shape as number[]).reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(elements) || elements * DTYPE_BYTES[dtype] !== end - begin)
      invalid(file, `${name}: ${end - begin} bytes do not hold ${dtype} [${(e.shape as number[]).join(', ')}]`);
    tensors.push({ name, file: fileIndex, dtype, shape: e.shape as number[], offset: dataStart + begin, nbytes: end - begin, begin });
  }
  tensors.sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < tensors.length; i++)
    if (tensors[i].begin < tensors[i - 1].begin + tensors[i - 1].nbytes)
      invalid(file, `${tensors[i - 1].name} and ${tensors[i].name} overlap`);
  return tensors.map(({ begin: _begin, ...t }) => t);
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** Finds the checkpoint's safetensors file(s) and reads every header (single file or shards). */
export async function readCheckpoint(dir: string): Promise<CheckpointFiles> {
  const single = path.join(dir, 'model.safetensors');
  const index = path.join(dir, 'model.safetensors.index.json');
  if (await exists(single)) return { files: [single], tensors: await readSafetensorsHeader(single, 0) };
  if (await exists(index)) return readSharded(dir, index);
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  if (names.some((n) => PICKLE.test(n)))
    throw new LckvError(
      'UNSAFE_CHECKPOINT',
      `${dir} holds only pickle weights (${names.filter((n) => PICKLE.test(n)).join(', ')}); pickle files can run code ` +
        'when loaded and are refused. Convert the checkpoint to safetensors.',
    );
  throw new LckvError('FILE_NOT_FOUND', `${dir} has no model.safetensors or model.safetensors.index.json`);
}

async function readSharded(dir: string, indexFile: string): Promise<CheckpointFiles> {
  const index = await readJsonObject(indexFile, 'INVALID_SAFETENSORS');
  if (!index) throw new LckvError('FILE_NOT_FOUND', `${indexFile} is gone`);
  const map = index.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map))
    throw new LckvError('INVALID_SAFETENSORS', 'model.safetensors.index.json has no weight_map');
  const shardNames = [...new Set(Object.values(map as Record<string, unknown>))];
  for (const s of shardNames)
    if (typeof s !== 'string' || s !== path.basename(s) || !s.endsWith('.safetensors'))
      throw new LckvError('INVALID_SAFETENSORS', `weight_map names an invalid shard ${JSON.stringify(s)}`);
  const files = (shardNames as string[]).map((s) => path.join(dir, s));
  const perShard = await Promise.all(files.map((f, i) => readSafetensorsHeader(f, i)));
  const tensors: NativeTensor[] = [];
  for (const [name, shard] of Object.entries(map as Record<string, string>)) {
    const t = perShard[shardNames.indexOf(shard)].find((x) => x.name === name);
    if (!t) throw new LckvError('MISSING_TENSOR', `weight_map says ${name} is in ${shard}, but it is not`);
    tensors.push(t);
  }
  return { files, tensors };
}
