// Checkpoints that tokenize text. A tiny Hugging Face tokenizer.json written by code:
// character-level BPE (no merges) over 32 ids, so it fits a TINY checkpoint (vocab 32).
// Llama-style: Metaspace pre-tokenizer, <unk>/<s>/</s> at 0/1/2, <s> prepended by the
// post-processor. And random checkpoints with the bundled model's real tokenizer.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_MODEL_DIR } from '../../lib';
import { makeCheckpoint, mulberry32, tmpDir } from '../fixtures';

const SPECIALS = ['<unk>', '<s>', '</s>'];
const CHARS = ['\u2581', 'T', '.', ...'abcdefghijklmnopqrstuvwxyz'.split('')].slice(0, 29);

/** The tokenizer's vocabulary: token -> id (32 entries). */
export function tinyVocab(): Record<string, number> {
  const vocab: Record<string, number> = {};
  [...SPECIALS, ...CHARS].forEach((t, i) => (vocab[t] = i));
  return vocab;
}

export function tinyTokenizerJson(): Record<string, unknown> {
  const special = (content: string, id: number) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map((t, i) => special(t, i)),
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: false,
      ignore_merges: false,
      vocab: tinyVocab(),
      merges: [],
    },
  };
}

/** Writes tokenizer.json (and a minimal tokenizer_config.json) into a checkpoint directory. */
export function writeTinyTokenizer(dir: string): void {
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tinyTokenizerJson()));
  fs.writeFileSync(
    path.join(dir, 'tokenizer_config.json'),
    JSON.stringify({ bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', add_bos_token: true }),
  );
}

/**
 * A new temp dir holding a tiny random LCKV checkpoint (layers 1, 2 read layer 3's KV) with
 * the bundled model's tokenizer files and a vocabulary covering every id they use.
 */
export function textCheckpoint(prefix: string, context: number): string {
  const dir = tmpDir(prefix);
  const tok = JSON.parse(fs.readFileSync(path.join(DEFAULT_MODEL_DIR, 'tokenizer.json'), 'utf8'));
  const ids = [...Object.values(tok.model.vocab as Record<string, number>), ...tok.added_tokens.map((t: { id: number }) => t.id)];
  makeCheckpoint(dir, { vocabSize: Math.max(...ids) + 1, numLayers: 4, layerTypes: '0_3_3_3', maxPositionEmbeddings: context });
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(DEFAULT_MODEL_DIR, f), path.join(dir, f));
  return dir;
}

/** About `chars` characters of made-up lowercase words: each is new to BPE's word cache, so encoding pays its full cost. */
export function madeUpWords(chars: number, seed: number): string {
  const rand = mulberry32(seed);
  let text = '';
  while (text.length < chars) {
    const n = 3 + Math.floor(rand() * 8);
    for (let i = 0; i < n; i++) text += String.fromCharCode(97 + Math.floor(rand() * 26));
    text += ' ';
  }
  return text.slice(0, chars);
}
