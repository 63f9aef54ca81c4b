// Every bad input gets a typed LckvError with a stable code; nothing crashes or hangs, and
// the model keeps working after every recoverable error.

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile, execFileSync } from 'node:child_process';
import { LckvError, loadModel, type Model } from '../lib';
import { makeCheckpoint, type CheckpointSpec, type TensorSpec, writeSafetensors } from './fixtures';
import { expectLckvError, readJson, TINY, TmpDirs, writeJson } from './helpers/robustness';
import { tinyTokenizerJson, writeTinyTokenizer } from './helpers/tokenizer';

const tmp = new TmpDirs();
after(() => tmp.removeAll());

/** A fresh tiny checkpoint directory; returns its dir and the tensors as written. */
function tiny(spec: CheckpointSpec = {}) {
  return makeCheckpoint(tmp.make(), { ...TINY, ...spec });
}

const WEIGHTS = 'model.safetensors';

/** Splits a safetensors file into its header (parsed) and data section. */
function splitSafetensors(file: string): { header: Record<string, any>; data: Buffer; headerBytes: number } {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  return { header: JSON.parse(buf.subarray(8, 8 + n).toString('utf8')), data: buf.subarray(8 + n), headerBytes: n };
}

/** Writes a safetensors file from a header object and a data section. */
function joinSafetensors(file: string, header: unknown, data: Buffer): void {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, json, data]));
}

/** Edits config.json of a checkpoint directory. */
function editConfig(dir: string, edit: (c: Record<string, any>) => void): void {
  const file = path.join(dir, 'config.json');
  const c = readJson(file);
  edit(c);
  writeJson(file, c);
}

const IDS = [1, 2, 3];

describe('errors: checkpoint files', function () {
  it('a missing directory is FILE_NOT_FOUND, saying so', async () => {
    const e = await expectLckvError(() => loadModel(tmp.path('does-not-exist')), 'FILE_NOT_FOUND');
    assert.match(e.message, /does-not-exist does not exist$/);
  });

  it('a directory without config.json is FILE_NOT_FOUND, saying so', async () => {
    const { dir } = tiny();
    fs.rmSync(path.join(dir, 'config.json'));
    const e = await expectLckvError(() => loadModel(dir), 'FILE_NOT_FOUND');
    assert.match(e.message, /has no config\.json$/);
  });

  it('a file instead of a directory (its config.json, its weights) is FILE_NOT_FOUND: not a directory', async () => {
    const { dir } = tiny();
    for (const file of ['config.json', 'model.safetensors']) {
      const e = await expectLckvError(() => loadModel(path.join(dir, file)), 'FILE_NOT_FOUND');
      assert.match(e.message, /is not a directory: a checkpoint is a directory holding config\.json$/);
    }
  });

  it('a config.json that is not JSON is INVALID_CONFIG', async () => {
    const { dir } = tiny();
    fs.writeFileSync(path.join(dir, 'config.json'), '{"model_type": "llama", hidden_size: 16');
    await expectLckvError(() => loadModel(dir), 'INVALID_CONFIG');
  });

  it('a config.json that is JSON but not an object is INVALID_CONFIG', async () => {
    const { dir } = tiny();
    fs.writeFileSync(path.join(dir, 'config.json'), '[1, 2, 3]');
    await expectLckvError(() => loadModel(dir), 'INVALID_CONFIG');
  });

  it('a missing model.safetensors is FILE_NOT_FOUND', async () => {
    const { dir } = tiny();
    fs.rmSync(path.join(dir, WEIGHTS));
    await expectLckvError(() => loadModel(dir), 'FILE_NOT_FOUND');
  });

  it('a checkpoint with only pytorch_model.bin is UNSAFE_CHECKPOINT', async () => {
    const { dir } = tiny();
    fs.rmSync(path.join(dir, WEIGHTS));
    // Junk, not a pickle: whatever reads it would fail differently.
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), Buffer.from([0x80, 0x04, 0x95, 0xde, 0xad, 0xbe, 0xef, 0x2e]));
    const err = await expectLckvError(() => loadModel(dir), 'UNSAFE_CHECKPOINT');
    assert.match(err.message, /pytorch_model\.bin/);
  });

  it('pytorch_model.bin is never opened (a FIFO in its place would block any reader)', async function () {
    if (process.platform === 'win32') this.skip();
    const { dir } = tiny();
    fs.rmSync(path.join(dir, WEIGHTS));
    const fifo = path.join(dir, 'pytorch_model.bin');
    execFileSync('mkfifo', [fifo]);
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), 5000)));
    const outcome = await Promise.race([loadModel(dir).then(() => 'loaded' as const, (e: unknown) => e), hang]);
    clearTimeout(timer);
    // Release a reader blocked on the FIFO, if any (opening for write fails with ENXIO when no reader is waiting).
    let readerWaiting = false;
    try {
      fs.closeSync(fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
      readerWaiting = true;
    } catch {
      // no reader: good
    }
    assert.equal(readerWaiting, false, 'something opened pytorch_model.bin for reading');
    assert.ok(outcome instanceof LckvError, `expected LckvError(UNSAFE_CHECKPOINT), got ${String(outcome)}`);
    assert.equal(outcome.code, 'UNSAFE_CHECKPOINT');
  });

  for (const [file, code] of [
    ['config.json', 'FILE_READ_FAILED'],
    ['generation_config.json', 'FILE_READ_FAILED'],
    ['tokenizer.json', 'FILE_READ_FAILED'],
    ['tokenizer_config.json', 'FILE_READ_FAILED'],
  ] as const)
    it(`a FIFO as ${file} is ${code}, at once (no read blocks on it)`, async function () {
      if (process.platform === 'win32') this.skip();
      const { dir } = tiny();
      const fifo = path.join(dir, file);
      fs.rmSync(fifo, { force: true });
      execFileSync('mkfifo', [fifo]);
      let timer: NodeJS.Timeout | undefined;
      const hang = new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), 5000)));
      const outcome = await Promise.race([loadModel(dir).then(() => 'loaded' as const, (e: unknown) => e), hang]);
      clearTimeout(timer);
      if (outcome === 'hang') fs.closeSync(fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));  // free the reader
      assert.ok(outcome instanceof LckvError, `expected LckvError(${code}), got ${String(outcome)}`);
      assert.equal(outcome.code, code);
    });

  it('a file cut in the middle of the tensor data is TRUNCATED_FILE', async () => {
    const { dir } = tiny();
    const file = path.join(dir, WEIGHTS);
    const buf = fs.readFileSync(file);
    const dataStart = 8 + Number(buf.readBigUInt64LE(0));
    fs.writeFileSync(file, buf.subarray(0, dataStart + Math.floor((buf.length - dataStart) / 2)));
    await expectLckvError(() => loadModel(dir), 'TRUNCATED_FILE');
  });

  it('a file cut inside the 8-byte header length is TRUNCATED_FILE', async () => {
    const { dir } = tiny();
    const file = path.join(dir, WEIGHTS);
    fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 5));
    await expectLckvError(() => loadModel(dir), 'TRUNCATED_FILE');
  });

  it('an empty model.safetensors is TRUNCATED_FILE', async () => {
    const { dir } = tiny();
    fs.writeFileSync(path.join(dir, WEIGHTS), Buffer.alloc(0));
    await expectLckvError(() => loadModel(dir), 'TRUNCATED_FILE');
  });

  it('a header length larger than the file is TRUNCATED_FILE', async () => {
    const { dir } = tiny();
    const file = path.join(dir, WEIGHTS);
    const buf = fs.readFileSync(file);
    buf.writeBigUInt64LE(BigInt(buf.length)); // one header byte more than there is room for
    fs.writeFileSync(file, buf);
    await expectLckvError(() => loadModel(dir), 'TRUNCATED_FILE');
    buf.writeBigUInt64LE(0xffff_ffff_ffff_ffffn);
    fs.writeFileSync(file, buf);
    await expectLckvError(() => loadModel(dir), 'TRUNCATED_FILE');
  });

  it('a header that is not JSON is INVALID_SAFETENSORS', async () => {
    const { dir } = tiny();
    const file = path.join(dir, WEIGHTS);
    const buf = fs.readFileSync(file);
    buf.write('{"model.norm.weight": {dtype', 8, 'utf8'); // same length, broken JSON
    fs.writeFileSync(file, buf);
    await expectLckvError(() => loadModel(dir), 'INVALID_SAFETENSORS');
  });

  it('a header that is JSON but not an object is INVALID_SAFETENSORS', async () => {
    const { dir } = tiny();
    const file = path.join(dir, WEIGHTS);
    joinSafetensors(file, [1, 2, 3], splitSafetensors(file).data);
    await expectLckvError(() => loadModel(dir), 'INVALID_SAFETENSORS');
  });

  it('data_offsets past the end of the file are TRUNCATED_FILE', async () => {
    const { dir } = tiny();
    const file = path.join(dir, WEIGHTS);
    const { header, data } = splitSafetensors(file);
    // Same byte length as before, so only the position is wrong.
    const [b, e] = header['model.norm.weight'].data_offsets;
    header['model.norm.weight'].data_offsets = [data.length - (e - b) + 4, data.length + 4];
    joinSafetensors(file, header, data);
    await expectLckvError(() => loadModel(dir), 'TRUNCATED_FILE');
  });

  it('overlapping tensors are INVALID_SAFETENSORS', async () => {
    const { dir } = tiny();
    const file = path.join(dir, WEIGHTS);
    const { header, data } = splitSafetensors(file);
    // Two tensors of the same size share their bytes.
    header['model.layers.0.post_attention_layernorm.weight'].data_offsets = [...header['model.layers.0.input_layernorm.weight'].data_offsets];
    joinSafetensors(file, header, data);
    await expectLckvError(() => loadModel(dir), 'INVALID_SAFETENSORS');
  });

  it('partly overlapping tensors are INVALID_SAFETENSORS', async () => {
    const { dir } = tiny();
    const file = path.join(dir, WEIGHTS);
    const { header, data } = splitSafetensors(file);
    const [b] = header['model.layers.0.input_layernorm.weight'].data_offsets;
    header['model.layers.0.post_attention_layernorm.weight'].data_offsets = [b + 4, b + 4 + 64];
    joinSafetensors(file, header, data);
    await expectLckvError(() => loadModel(dir), 'INVALID_SAFETENSORS');
  });

  for (const dtype of ['I64', 'F8', 'F8_E4M3', 'F64', 'U8', 'BOOL']) {
    it(`dtype ${dtype} is UNSUPPORTED_DTYPE`, async () => {
      const ck = tiny();
      const size: Record<string, number> = { I64: 8, F64: 8, F8: 1, F8_E4M3: 1, U8: 1, BOOL: 1 };
      const tensors: Record<string, TensorSpec> = {
        ...ck.tensors,
        'model.norm.weight': { dtype, shape: [16], raw: new Uint8Array(16 * size[dtype]) },
      };
      writeSafetensors(path.join(ck.dir, WEIGHTS), tensors);
      await expectLckvError(() => loadModel(ck.dir), 'UNSUPPORTED_DTYPE');
    });
  }

  it('a shape inconsistent with the byte length is INVALID_SAFETENSORS', async () => {
    const ck = tiny();
    const tensors: Record<string, TensorSpec> = {
      ...ck.tensors,
      'model.norm.weight': { dtype: 'F32', shape: [16], raw: new Uint8Array(17 * 4) },
    };
    writeSafetensors(path.join(ck.dir, WEIGHTS), tensors);
    await expectLckvError(() => loadModel(ck.dir), 'INVALID_SAFETENSORS');
  });

  it('a tensor with the wrong shape for the config is SHAPE_MISMATCH', async () => {
    const ck = tiny();
    const tensors: Record<string, TensorSpec> = {
      ...ck.tensors,
      'model.layers.1.mlp.up_proj.weight': { dtype: 'F32', shape: [16, 32], data: new Float32Array(512) }, // transposed
    };
    writeSafetensors(path.join(ck.dir, WEIGHTS), tensors);
    await expectLckvError(() => loadModel(ck.dir), 'SHAPE_MISMATCH');
  });

  it('a tensor with the wrong rank is SHAPE_MISMATCH', async () => {
    const ck = tiny();
    const tensors: Record<string, TensorSpec> = {
      ...ck.tensors,
      'model.norm.weight': { dtype: 'F32', shape: [4, 4], data: new Float32Array(16) },
    };
    writeSafetensors(path.join(ck.dir, WEIGHTS), tensors);
    await expectLckvError(() => loadModel(ck.dir), 'SHAPE_MISMATCH');
  });

  it('a missing layer tensor is MISSING_TENSOR', async () => {
    const ck = tiny();
    const tensors = { ...ck.tensors };
    delete tensors['model.layers.1.mlp.up_proj.weight'];
    writeSafetensors(path.join(ck.dir, WEIGHTS), tensors);
    const err = await expectLckvError(() => loadModel(ck.dir), 'MISSING_TENSOR');
    assert.match(err.message, /model\.layers\.1\.mlp\.up_proj\.weight/);
  });

  it('a missing k_proj of a layer that computes KV is MISSING_TENSOR', async () => {
    const ck = tiny({ layerTypes: '1_1' });
    const tensors = { ...ck.tensors };
    delete tensors['model.layers.1.self_attn.k_proj.weight'];
    writeSafetensors(path.join(ck.dir, WEIGHTS), tensors);
    await expectLckvError(() => loadModel(ck.dir), 'MISSING_TENSOR');
  });

  it('a missing lm_head with untied embeddings is MISSING_TENSOR', async () => {
    const ck = tiny();
    const tensors = { ...ck.tensors };
    delete tensors['lm_head.weight'];
    writeSafetensors(path.join(ck.dir, WEIGHTS), tensors);
    await expectLckvError(() => loadModel(ck.dir), 'MISSING_TENSOR');
  });

  it('a sharded index pointing at a missing shard is FILE_NOT_FOUND', async () => {
    const { dir } = tiny({ sharded: true });
    fs.rmSync(path.join(dir, 'model-00002-of-00002.safetensors'));
    await expectLckvError(() => loadModel(dir), 'FILE_NOT_FOUND');
  });

  it('a sharded index pointing at "../x.safetensors" is INVALID_SAFETENSORS (and is not followed)', async () => {
    const parent = tmp.make();
    const dir = path.join(parent, 'ckpt');
    makeCheckpoint(dir, { ...TINY, sharded: true });
    // A complete, valid file where the path leads: refusing it must not depend on its content.
    fs.copyFileSync(path.join(dir, 'model-00002-of-00002.safetensors'), path.join(parent, 'x.safetensors'));
    const indexFile = path.join(dir, 'model.safetensors.index.json');
    const index = readJson(indexFile);
    for (const [name, shard] of Object.entries(index.weight_map))
      if (shard === 'model-00002-of-00002.safetensors') index.weight_map[name] = '../x.safetensors';
    writeJson(indexFile, index);
    await expectLckvError(() => loadModel(dir), 'INVALID_SAFETENSORS');
  });

  it('a sharded index naming a tensor its shard does not hold is MISSING_TENSOR', async () => {
    const { dir } = tiny({ sharded: true });
    const indexFile = path.join(dir, 'model.safetensors.index.json');
    const index = readJson(indexFile);
    const moved = Object.keys(index.weight_map).find((n) => index.weight_map[n] === 'model-00002-of-00002.safetensors')!;
    index.weight_map[moved] = 'model-00001-of-00002.safetensors';
    writeJson(indexFile, index);
    await expectLckvError(() => loadModel(dir), 'MISSING_TENSOR');
  });

  it('a sharded index that is not JSON is INVALID_SAFETENSORS', async () => {
    const { dir } = tiny({ sharded: true });
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), '{"weight_map": ');
    await expectLckvError(() => loadModel(dir), 'INVALID_SAFETENSORS');
  });
});

describe('errors: config.json', function () {
  const layerTypeCases: [string, unknown][] = [
    ['wrong grammar (dash)', '0-1'],
    ['wrong grammar (double underscore)', '0__1'],
    ['wrong grammar (trailing underscore)', '0_1_'],
    ['wrong grammar (letters)', 'a_b'],
    ['wrong grammar (double s)', '0ss_1'],
    ['wrong grammar (sign)', '+0_1'],
    ['wrong grammar (space)', '0_ 1'],
    ['empty string', ''],
    ['not a string', [0, 1]],
    ['wrong count (too few)', '0'],
    ['wrong count (too many)', '0_1_1'],
    ['index out of range', '0_2'],
    ['huge index', '0_99999999999999999999'],
  ];
  for (const [label, layerTypes] of layerTypeCases) {
    it(`layer_types ${label} (${JSON.stringify(layerTypes)}) is INVALID_LAYER_TYPES`, async () => {
      const { dir } = tiny();
      editConfig(dir, (c) => (c.layer_types = layerTypes));
      await expectLckvError(() => loadModel(dir), 'INVALID_LAYER_TYPES');
    });
  }

  for (const modelType of ['gpt2', 'mistral', 'LLAMA', '', 42, null]) {
    it(`model_type ${JSON.stringify(modelType)} is UNSUPPORTED_MODEL`, async () => {
      const { dir } = tiny();
      editConfig(dir, (c) => (c.model_type = modelType));
      await expectLckvError(() => loadModel(dir), 'UNSUPPORTED_MODEL');
    });
  }

  it('a missing model_type is UNSUPPORTED_MODEL', async () => {
    const { dir } = tiny();
    editConfig(dir, (c) => delete c.model_type);
    await expectLckvError(() => loadModel(dir), 'UNSUPPORTED_MODEL');
  });

  const configCases: [string, Record<string, unknown>][] = [
    ['num_attention_heads not a multiple of num_key_value_heads', { num_attention_heads: 4, num_key_value_heads: 3 }],
    ['negative hidden_size', { hidden_size: -16 }],
    ['zero num_hidden_layers', { num_hidden_layers: 0 }],
    ['negative vocab_size', { vocab_size: -32 }],
    ['non-integer hidden_size', { hidden_size: 16.5 }],
    ['non-integer intermediate_size', { intermediate_size: 31.9 }],
    ['string num_hidden_layers', { num_hidden_layers: '2' }],
    ['null vocab_size', { vocab_size: null }],
    ['NaN-like max_position_embeddings', { max_position_embeddings: 'NaN' }],
    ['negative max_position_embeddings', { max_position_embeddings: -1 }],
    ['negative rms_norm_eps', { rms_norm_eps: -1e-5 }],
    ['odd head_dim', { head_dim: 7 }],
    ['string tie_word_embeddings', { tie_word_embeddings: 'yes' }],
    ['negative forward_passes', { forward_passes: -1 }],
    ['forward_passes + backward_passes = 0', { forward_passes: 0, backward_passes: 0 }],
    ['zero sliding_window', { sliding_window: 0 }],
    ['eos_token_id not a token id', { eos_token_id: 'eos' }],
  ];
  for (const [label, edit] of configCases) {
    it(`${label} is INVALID_CONFIG`, async () => {
      const { dir } = tiny();
      editConfig(dir, (c) => Object.assign(c, edit));
      await expectLckvError(() => loadModel(dir), 'INVALID_CONFIG');
    });
  }

  it('a missing required size is INVALID_CONFIG', async () => {
    const { dir } = tiny();
    editConfig(dir, (c) => delete c.hidden_size);
    await expectLckvError(() => loadModel(dir), 'INVALID_CONFIG');
  });
});

describe('errors: generation_config.json', function () {
  const bad: [string, unknown][] = [
    ['null', null],
    ['an array', [1]],
    ['max_new_tokens -5', { max_new_tokens: -5 }],
    ['max_new_tokens 2.5', { max_new_tokens: 2.5 }],
    ['repetition_penalty 0', { repetition_penalty: 0 }],
    ['temperature -1', { temperature: -1 }],
    ['top_p 7', { top_p: 7 }],
    ['top_k "40"', { top_k: '40' }],
  ];
  for (const [label, value] of bad)
    it(`${label} is INVALID_CONFIG, naming what is wrong`, async () => {
      const { dir } = tiny();
      writeJson(path.join(dir, 'generation_config.json'), value);
      const err = await expectLckvError(() => loadModel(dir), 'INVALID_CONFIG');
      assert.match(err.message, /generation_config\.json/);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) assert.match(err.message, new RegExp(Object.keys(value)[0]));
    });

  it('not JSON is INVALID_CONFIG', async () => {
    const { dir } = tiny();
    fs.writeFileSync(path.join(dir, 'generation_config.json'), '{"max_new_tokens": ');
    await expectLckvError(() => loadModel(dir), 'INVALID_CONFIG');
  });

  it('its settings are the defaults (null = unset); do_sample false means greedy', async () => {
    const { dir } = tiny({ extraConfig: { eos_token_id: null } });
    writeJson(path.join(dir, 'generation_config.json'), { max_new_tokens: 3, top_k: null, do_sample: false, temperature: 0.9 });
    const m = await loadModel(dir, { threads: 1 });
    try {
      const r = await m.generate(IDS, { seed: 1 });
      assert.equal(r.tokens.length, 3);
      assert.deepEqual(r.tokens, (await m.generate(IDS, { seed: 2, temperature: 0 })).tokens);
    } finally {
      await m.dispose();
    }
  });
});

describe('errors: inputs on a loaded model', function () {
  let model: Model;
  const CTX = 16;

  before(async () => {
    const { dir } = tiny({ maxPositionEmbeddings: CTX, extraConfig: { eos_token_id: null } });
    model = await loadModel(dir, { threads: 1 });
  });
  after(() => model?.dispose());

  // The model keeps working after every recoverable error.
  afterEach(async () => {
    const r = await model.generate(IDS, { maxTokens: 3, temperature: 0 });
    assert.equal(r.tokens.length, 3);
    const logits = await model.logits(IDS);
    assert.equal(logits.length, IDS.length * 32);
  });

  it('a token id >= vocab_size in logits is TOKEN_OUT_OF_RANGE', async () => {
    await expectLckvError(() => model.logits([1, 32, 3]), 'TOKEN_OUT_OF_RANGE');
  });

  it('a negative token id in logits is TOKEN_OUT_OF_RANGE', async () => {
    await expectLckvError(() => model.logits([-1]), 'TOKEN_OUT_OF_RANGE');
  });

  it('a huge token id in generate is TOKEN_OUT_OF_RANGE', async () => {
    await expectLckvError(() => model.generate([1, 2 ** 31, 3], { maxTokens: 2 }), 'TOKEN_OUT_OF_RANGE');
  });

  it('an out-of-range token id in stream is TOKEN_OUT_OF_RANGE', async () => {
    await expectLckvError(async () => {
      for await (const _ of model.stream([0, 1000])) void _;
    }, 'TOKEN_OUT_OF_RANGE');
  });

  it('generate succeeds right after a TOKEN_OUT_OF_RANGE rejection', async () => {
    await expectLckvError(() => model.generate([99], { maxTokens: 2 }), 'TOKEN_OUT_OF_RANGE');
    const r = await model.generate(IDS, { maxTokens: 4, temperature: 0 });
    assert.equal(r.tokens.length, 4);
    assert.ok(r.tokens.every((t) => Number.isInteger(t) && t >= 0 && t < 32));
  });

  it('non-integer token ids are INVALID_ARGUMENT', async () => {
    await expectLckvError(() => model.logits([1, 2.5]), 'INVALID_ARGUMENT');
  });

  it('an empty prompt is INVALID_ARGUMENT', async () => {
    await expectLckvError(() => model.generate([], { maxTokens: 2 }), 'INVALID_ARGUMENT');
    await expectLckvError(() => model.logits([]), 'INVALID_ARGUMENT');
  });

  it('a prompt longer than max_position_embeddings is CONTEXT_OVERFLOW (logits)', async () => {
    await expectLckvError(() => model.logits(new Array(CTX + 1).fill(1)), 'CONTEXT_OVERFLOW');
  });

  it('a prompt longer than max_position_embeddings is CONTEXT_OVERFLOW (generate)', async () => {
    await expectLckvError(() => model.generate(new Array(CTX + 5).fill(3), { maxTokens: 1 }), 'CONTEXT_OVERFLOW');
  });

  it('a prompt of exactly max_position_embeddings tokens is accepted', async () => {
    const logits = await model.logits(new Array(CTX).fill(1));
    assert.equal(logits.length, CTX * 32);
  });

  it('a text prompt on a checkpoint without tokenizer.json is NO_TOKENIZER', async () => {
    await expectLckvError(() => model.generate('Hello', { maxTokens: 2 }), 'NO_TOKENIZER');
    await expectLckvError(() => model.tokenize('Hello'), 'NO_TOKENIZER');
    await expectLckvError(() => model.detokenize([1, 2]), 'NO_TOKENIZER');
    await expectLckvError(() => model.perplexity('Hello there'), 'NO_TOKENIZER');
  });

  const badOptions: [string, Record<string, unknown>][] = [
    ['temperature NaN', { temperature: NaN }],
    ['temperature negative', { temperature: -0.5 }],
    ['temperature a string', { temperature: '0.7' }],
    ['temperature Infinity', { temperature: Infinity }],
    ['topP > 1', { topP: 1.5 }],
    ['topP negative', { topP: -0.1 }],
    ['topK fractional', { topK: 2.5 }],
    ['minP > 1', { minP: 2 }],
    ['repetitionPenalty 0', { repetitionPenalty: 0 }],
    ['maxTokens -1', { maxTokens: -1 }],
    ['maxTokens 1.5', { maxTokens: 1.5 }],
    ['maxTokens a string', { maxTokens: '5' }],
    ['seed negative', { seed: -1 }],
    ['seed fractional', { seed: 0.5 }],
    ['passes 0', { passes: 0 }],
    ['passes -3', { passes: -3 }],
    ["prefill 'fast'", { prefill: 'fast' }],
    ['prefill a number', { prefill: 1 }],
    ["stop ['']", { stop: [''] }],
    ["stop ''", { stop: '' }],
    ['stop [42]', { stop: [42] }],
    ['stop a number', { stop: 7 }],
    ['signal not an AbortSignal', { signal: { aborted: false } }],
  ];
  for (const [label, options] of badOptions) {
    it(`generate with ${label} is INVALID_ARGUMENT`, async () => {
      await expectLckvError(() => model.generate(IDS, options as never), 'INVALID_ARGUMENT');
    });
  }

  it("logits with prefill 'fast' is INVALID_ARGUMENT", async () => {
    await expectLckvError(() => model.logits(IDS, { prefill: 'fast' as never }), 'INVALID_ARGUMENT');
  });

  it('stream with invalid options is INVALID_ARGUMENT', async () => {
    await expectLckvError(async () => {
      for await (const _ of model.stream(IDS, { topP: 2 })) void _;
    }, 'INVALID_ARGUMENT');
  });

  it('generate options that are not an object are INVALID_ARGUMENT', async () => {
    await expectLckvError(() => model.generate(IDS, 'greedy' as never), 'INVALID_ARGUMENT');
  });

  it('a prompt that is neither text nor token ids is INVALID_ARGUMENT', async () => {
    await expectLckvError(() => model.generate({ length: 3 } as never), 'INVALID_ARGUMENT');
    await expectLckvError(() => model.logits('1 2 3' as never), 'INVALID_ARGUMENT');
  });

  it('an AbortSignal aborted before the call gives finishReason "abort" and no tokens', async () => {
    const controller = new AbortController();
    controller.abort();
    const r = await model.generate(IDS, { maxTokens: 10, temperature: 0, signal: controller.signal });
    assert.equal(r.finishReason, 'abort');
    assert.deepEqual(r.tokens, []);
    assert.equal(r.text, '');
    assert.equal(r.usage.completionTokens, 0);
  });

  it('an AbortSignal aborted mid-stream ends with finishReason "abort" and fewer tokens', async () => {
    const controller = new AbortController();
    const run = model.stream(IDS, { maxTokens: 10, temperature: 0, signal: controller.signal });
    let seen = 0;
    let step = await run.next();
    while (!step.done) {
      seen++;
      if (seen === 2) controller.abort();
      step = await run.next();
    }
    const r = step.value;
    assert.equal(r.finishReason, 'abort');
    assert.equal(seen, 2);
    assert.equal(r.tokens.length, 2);
    assert.ok(r.tokens.length < 10);
  });

  it('generation reaching the context length ends with finishReason "length"', async () => {
    const prompt = new Array(CTX - 4).fill(5);
    const r = await model.generate(prompt, { maxTokens: 100, temperature: 0 });
    assert.equal(r.finishReason, 'length');
    assert.ok(r.tokens.length < 100);
    assert.ok(r.tokens.length >= 4, `only ${r.tokens.length} tokens before the context filled`);
    assert.ok(r.usage.totalTokens <= CTX + 1, `${r.usage.totalTokens} tokens in a context of ${CTX}`);
  });

  it('generation reaching maxTokens ends with finishReason "length"', async () => {
    const r = await model.generate(IDS, { maxTokens: 5, temperature: 0 });
    assert.equal(r.finishReason, 'length');
    assert.equal(r.tokens.length, 5);
  });
});

describe('errors: no unbounded work', function () {
  this.timeout(60_000);

  /** Runs a TypeScript snippet in a child process, SIGKILLed after timeoutMs (a hang cannot block this process). */
  function runChild(code: string, timeoutMs: number): Promise<{ ok: boolean; output: string; ms: number }> {
    const script = path.join(tmp.make(), 'child.ts');
    fs.writeFileSync(script, code);
    const started = Date.now();
    return new Promise((resolve) => {
      execFile(process.execPath, ['--require', require.resolve('tsx/cjs'), script], { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) =>
        resolve({ ok: !err, output: `${stdout}${stderr}${err ? `\n${err.message}` : ''}`, ms: Date.now() - started }),
      );
    });
  }

  it('iterative prefill with forward_passes 2^31-1 in config.json finishes (passes beyond the prompt length change nothing)', async () => {
    // Pass k makes positions < k exact (ARCHITECTURE §4), so n passes over n tokens are
    // already token-by-token exact and further passes recompute the same values.
    const { dir } = tiny({ layerTypes: '1_1', forwardPasses: 2 ** 31 - 1, backwardPasses: 0 });
    const lib = JSON.stringify(path.resolve(__dirname, '..', 'lib'));
    const r = await runChild(
      `import { loadModel } from ${lib};
(async () => {
  const m = await loadModel(${JSON.stringify(dir)}, { threads: 1 });
  const a = await m.logits([1, 2, 3, 4], { prefill: 'iterative' });
  const b = await m.logits([1, 2, 3, 4], { prefill: 'sequential' });
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
  console.log('max diff', diff);
  if (!(diff < 1e-3)) process.exit(2);
})().catch((e) => { console.error(e); process.exit(1); });
`,
      20_000,
    );
    assert.ok(r.ok, `did not finish in 20 s (${r.ms} ms): ${r.output}`);
  });

  it('an explicit passes: 1000000 on a 4-token prompt finishes quickly', async () => {
    const { dir } = tiny({ layerTypes: '1_1' });
    const lib = JSON.stringify(path.resolve(__dirname, '..', 'lib'));
    const r = await runChild(
      `import { loadModel } from ${lib};
(async () => {
  const m = await loadModel(${JSON.stringify(dir)}, { threads: 1 });
  await m.logits([1, 2, 3, 4], { prefill: 'iterative', passes: 1000000 });
})().catch((e) => { console.error(e); process.exit(1); });
`,
      10_000,
    );
    assert.ok(r.ok, `did not finish in 10 s (${r.ms} ms): ${r.output}`);
  });
});

describe('errors: abort during a long generate()', function () {
  it('aborting while generate() runs ends with finishReason "abort" before maxTokens', async () => {
    // A context far larger than what can be generated in the time before abort.
    const { dir } = tiny({ maxPositionEmbeddings: 1 << 20, extraConfig: { eos_token_id: null } });
    const model = await loadModel(dir, { threads: 1 });
    try {
      const controller = new AbortController();
      const maxTokens = 1 << 19;
      const timer = setTimeout(() => controller.abort(), 50);
      const r = await model.generate(IDS, { maxTokens, temperature: 0, signal: controller.signal });
      clearTimeout(timer);
      assert.equal(r.finishReason, 'abort');
      assert.ok(r.tokens.length < maxTokens);
      // And the model is usable afterwards.
      const again = await model.generate(IDS, { maxTokens: 2, temperature: 0 });
      assert.equal(again.tokens.length, 2);
    } finally {
      await model.dispose();
    }
  });
});

describe('errors: load options', function () {
  const cases: [string, Record<string, unknown>][] = [
    ['threads 0', { threads: 0 }],
    ['threads -1', { threads: -1 }],
    ['threads 1.5', { threads: 1.5 }],
    ['threads a string', { threads: '2' }],
    ["kvCache dtype 'f8'", { kvCache: { dtype: 'f8' } }],
    ["kvCache dtype 'F16' (case matters)", { kvCache: { dtype: 'F16' } }],
  ];
  for (const [label, options] of cases) {
    it(`loadModel with ${label} is INVALID_ARGUMENT`, async () => {
      const { dir } = tiny();
      await expectLckvError(() => loadModel(dir, options as never), 'INVALID_ARGUMENT');
    });
  }

  it('loadModel with a non-string dir is INVALID_ARGUMENT', async () => {
    await expectLckvError(() => loadModel(42 as never), 'INVALID_ARGUMENT');
  });
});

describe('errors: use after dispose', function () {
  let model: Model;
  before(async () => {
    const { dir } = tiny();
    model = await loadModel(dir, { threads: 1 });
    await model.generate(IDS, { maxTokens: 1 });
    await model.dispose();
  });

  it('generate after dispose is DISPOSED', async () => {
    await expectLckvError(() => model.generate(IDS, { maxTokens: 2 }), 'DISPOSED');
  });

  it('logits after dispose is DISPOSED', async () => {
    await expectLckvError(() => model.logits(IDS), 'DISPOSED');
  });

  it('tokenize after dispose is DISPOSED', async () => {
    await expectLckvError(() => model.tokenize('hello'), 'DISPOSED');
  });

  it('stream after dispose is DISPOSED', async () => {
    await expectLckvError(async () => {
      for await (const _ of model.stream(IDS)) void _;
    }, 'DISPOSED');
  });

  it('dispose twice is harmless', async () => {
    await model.dispose();
  });

  it('a generate called before dispose completes (dispose waits for running work)', async () => {
    const { dir } = tiny({ extraConfig: { eos_token_id: null } });
    const m = await loadModel(dir, { threads: 1 });
    const pending = m.generate(IDS, { maxTokens: 8, temperature: 0 });
    const disposed = m.dispose();
    const r = await pending;
    await disposed;
    assert.equal(r.tokens.length, 8);
    await expectLckvError(() => m.logits(IDS), 'DISPOSED');
  });

  it('streams begun before dispose run to their end, queued and preempted ones too', async () => {
    // 4 blocks of 16 positions for 6 streams of 40 tokens, one decoded at a time beside
    // another: most wait in the queue when dispose() comes, and the pool forces preemptions.
    const { dir } = tiny({ extraConfig: { eos_token_id: null } });
    const m = await loadModel(dir, { threads: 1, maxBatch: 2, kvCache: { tokens: 64 } });
    const streams = Array.from({ length: 6 }, (_, i) => m.stream(IDS, { maxTokens: 40, seed: i }));
    const first = streams.map((g) => g.next());  // submits every request
    await m.dispose();
    const counts = await Promise.all(
      streams.map(async (g, i) => {
        let n = (await first[i]).done ? 0 : 1;
        for await (const _ of g) n++;
        return n;
      }),
    );
    assert.deepEqual(counts, [40, 40, 40, 40, 40, 40]);
    assert.ok(m.stats().preemptions > 0, 'the pool never ran short: the test lost its point');
    assert.equal(m.stats().kvBlocksUsed, 0);
    await expectLckvError(() => m.generate(IDS), 'DISPOSED');
  });
});

describe('errors: tokenizer', function () {
  it('a tokenizer.json that is not JSON is INVALID_TOKENIZER', async () => {
    const { dir } = tiny();
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"model": {"type": "BPE", ');
    await expectLckvError(() => loadModel(dir), 'INVALID_TOKENIZER');
  });

  it('a tokenizer.json with an unknown pre-tokenizer type is INVALID_TOKENIZER', async () => {
    const { dir } = tiny();
    const json = tinyTokenizerJson();
    json.pre_tokenizer = { type: 'NoSuchPreTokenizer' };
    writeJson(path.join(dir, 'tokenizer.json'), json);
    await expectLckvError(() => loadModel(dir), 'INVALID_TOKENIZER');
  });

  it('a tokenizer.json that is null is INVALID_TOKENIZER, a directory FILE_READ_FAILED (neither "no tokenizer")', async () => {
    const asNull = tiny().dir;
    fs.writeFileSync(path.join(asNull, 'tokenizer.json'), 'null');
    await expectLckvError(() => loadModel(asNull), 'INVALID_TOKENIZER');
    const asDir = tiny().dir;
    fs.mkdirSync(path.join(asDir, 'tokenizer.json'));
    await expectLckvError(() => loadModel(asDir), 'FILE_READ_FAILED');
  });

  it('a tokenizer that fails while encoding is INVALID_TOKENIZER from tokenize and generate', async () => {
    const { dir } = tiny();
    const json = tinyTokenizerJson();
    json.post_processor = { type: 'TemplateProcessing', single: 5 };  // loads, then cannot be applied
    writeJson(path.join(dir, 'tokenizer.json'), json);
    const m = await loadModel(dir, { threads: 1 });
    try {
      await expectLckvError(() => m.tokenize('The cat'), 'INVALID_TOKENIZER');
      await expectLckvError(() => m.generate('The cat', { maxTokens: 2 }), 'INVALID_TOKENIZER');
    } finally {
      await m.dispose();
    }
  });

  it('a tokenizer_config.json that is not JSON is INVALID_TOKENIZER', async () => {
    const { dir } = tiny();
    writeTinyTokenizer(dir);
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), '{"bos_token": ');
    await expectLckvError(() => loadModel(dir), 'INVALID_TOKENIZER');
  });

  describe('on a checkpoint with a tokenizer', function () {
    let model: Model;
    before(async () => {
      const { dir } = tiny({ extraConfig: { eos_token_id: null } });
      writeTinyTokenizer(dir);
      model = await loadModel(dir, { threads: 1 });
    });
    after(() => model?.dispose());

    it('tokenize and detokenize round-trip', () => {
      const ids = model.tokenize('The cat.');
      assert.equal(ids[0], 1, 'starts with <s>');
      assert.equal(model.detokenize(ids), 'The cat.');
    });

    it('detokenize with an out-of-range id is TOKEN_OUT_OF_RANGE', async () => {
      await expectLckvError(() => model.detokenize([1, 32]), 'TOKEN_OUT_OF_RANGE');
    });

    it('a text prompt generates text', async () => {
      const r = await model.generate('The', { maxTokens: 4, temperature: 0 });
      assert.equal(r.tokens.length, 4);
      assert.equal(typeof r.text, 'string');
      assert.equal(r.finishReason, 'length');
    });

    it('a token-id prompt generates text', async () => {
      const prompt = [1, 4, 5];
      const r = await model.generate(prompt, { maxTokens: 4, temperature: 0 });
      assert.equal(r.tokens.length, 4);
      // The continuation of the prompt's text, with the space a word boundary adds kept.
      assert.equal(model.detokenize(prompt) + r.text, model.detokenize([...prompt, ...r.tokens]));
    });

    it('a text prompt longer than the context is CONTEXT_OVERFLOW', async () => {
      await expectLckvError(() => model.generate('a'.repeat(200), { maxTokens: 1 }), 'CONTEXT_OVERFLOW');
    });

    it('tokenize with a non-string is INVALID_ARGUMENT', async () => {
      await expectLckvError(() => model.tokenize(42 as never), 'INVALID_ARGUMENT');
    });

    it('tokenize with options that are not an object of booleans is INVALID_ARGUMENT', async () => {
      await expectLckvError(() => model.tokenize('The', null as never), 'INVALID_ARGUMENT');
      await expectLckvError(() => model.tokenize('The', { addSpecialTokens: 'no' as never }), 'INVALID_ARGUMENT');
    });

    it('detokenize of no ids is the empty text', () => {
      assert.equal(model.detokenize([]), '');
    });

    it('tokenize after dispose is DISPOSED', async () => {
      const { dir } = tiny();
      writeTinyTokenizer(dir);
      const m = await loadModel(dir, { threads: 1 });
      await m.dispose();
      await expectLckvError(() => m.tokenize('The'), 'DISPOSED');
      await expectLckvError(() => m.generate('The'), 'DISPOSED');
    });
  });
});

// Inputs found while fuzzing (test/fuzz.test.ts) where the library answered with something
// other than the right LckvError; each is a minimal reproduction.
describe('errors: edge inputs found by fuzzing', function () {
  let model: Model;
  before(async () => {
    const { dir } = tiny({ extraConfig: { eos_token_id: null } });
    model = await loadModel(dir, { threads: 1 });
  });
  after(() => model?.dispose());

  it('generate(ids, null) behaves like no options or is INVALID_ARGUMENT, never a TypeError', async () => {
    try {
      await model.generate(IDS, null as never);
    } catch (err) {
      assert.ok(err instanceof LckvError, `got ${String(err)}`);
      assert.equal(err.code, 'INVALID_ARGUMENT');
    }
  });

  for (const prefill of ['toString', '__proto__', 'constructor', 'hasOwnProperty']) {
    it(`prefill ${JSON.stringify(prefill)} is INVALID_ARGUMENT (not an inherited property)`, async () => {
      await expectLckvError(() => model.logits(IDS, { prefill: prefill as never }), 'INVALID_ARGUMENT');
      await expectLckvError(() => model.generate(IDS, { prefill: prefill as never, maxTokens: 2 }), 'INVALID_ARGUMENT');
    });
  }

  it('an option value that cannot be converted to a string is INVALID_ARGUMENT', async () => {
    await expectLckvError(() => model.generate(IDS, { temperature: Object.create(null) }), 'INVALID_ARGUMENT');
    await expectLckvError(() => model.generate(IDS, { prefill: Object.create(null) }), 'INVALID_ARGUMENT');
  });

  it('a vocab_size beyond 32 bits is INVALID_CONFIG (not silently wrapped)', async () => {
    // 2^32 + 32 wraps to 32 in the addon, which matches the tensors: the model loaded and
    // reported vocabSize 4294967328 while the engine used 32.
    const { dir } = tiny({ extraConfig: { vocab_size: 2 ** 32 + 32 } });
    await expectLckvError(() => loadModel(dir), 'INVALID_CONFIG');
  });

  it('a max_position_embeddings beyond 32 bits is INVALID_CONFIG (not silently wrapped)', async () => {
    // 2^32 + 8 wrapped to 8: generation then failed with CONTEXT_OVERFLOW after 5 tokens.
    const { dir } = tiny({ extraConfig: { max_position_embeddings: 2 ** 32 + 8 } });
    await expectLckvError(() => loadModel(dir), 'INVALID_CONFIG');
  });
});
