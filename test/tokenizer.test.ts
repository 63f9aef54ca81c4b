// Streaming detokenization with the bundled model's real tokenizer (byte fallback, Metaspace).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { DEFAULT_MODEL_DIR } from '../lib';
import { IncrementalDecoder, loadTokenizer } from '../lib/tokenizer';
import { StopStringFilter } from '../lib/stop-strings';

const dir = DEFAULT_MODEL_DIR;
const tokenizer = new Tokenizer(
  JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')),
  JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')),
);
const decode = (ids: number[]) => tokenizer.decode(ids, { skip_special_tokens: true });
const encode = (text: string) => tokenizer.encode(text, { add_special_tokens: false }).ids;

describe('incremental detokenization', () => {
  const prompt = 'The weather';
  const continuation = ' was naïve — 🙂 café 東京, said the jury.';

  it('pieces concatenate to the decoded continuation, leading space included', () => {
    const promptIds = encode(prompt);
    const all = encode(prompt + continuation);
    assert.deepEqual(all.slice(0, promptIds.length), promptIds, 'the prompt tokenizes as a prefix');
    const generated = all.slice(promptIds.length);
    const dec = new IncrementalDecoder(decode, promptIds.slice(-4));
    const pieces = generated.map((id) => dec.push(id));
    assert.equal(pieces.join(''), decode(all).slice(decode(promptIds).length));
    assert.ok(pieces.join('').startsWith(' was'));
  });

  it('never emits half a UTF-8 character (byte-fallback tokens)', () => {
    const ids = encode('🙂東京');
    assert.ok(ids.length > 2, 'emoji and CJK use byte-fallback tokens');
    const dec = new IncrementalDecoder(decode);
    for (const id of ids) assert.ok(!dec.push(id).includes('\uFFFD'));
  });
});

describe('stop strings', () => {
  it('hold back a possible stop prefix, cut at the stop, release the rest at the end', () => {
    const f = new StopStringFilter(['END']);
    assert.equal(f.push('abc E'), 'abc ');
    assert.equal(f.push('N'), '');
    assert.equal(f.push('D tail'), '');
    assert.ok(f.stopped);
    assert.equal(f.value, 'abc ');
    const g = new StopStringFilter(['END']);
    assert.equal(g.push('xE'), 'x');
    assert.equal(g.push('x'), 'Ex');
    assert.equal(g.push('EN'), '');
    assert.equal(g.flush(), 'EN');
    assert.equal(g.value, 'xExEN');
  });
});

describe('Metaspace words split before BPE (as the Rust tokenizers do)', () => {
  // The library alone (`tokenizer` above) hands BPE the whole text as one word; the ids
  // must not change, only the cost.
  const texts = [
    fs.readFileSync(path.join(dir, 'heldout.txt'), 'utf8'),
    '',
    ' ',
    '   leading, double  and trailing spaces   ',
    'lines\nand\ttabs\n\n  indented',
    'naïve café 東京 🙂 \u2581 literal replacement characters\u2581\u2581here',
    'Mr. Speaker,  the   Congress',
  ];
  it('gives the ids of the library alone, with and without special tokens', async () => {
    const split = await loadTokenizer(dir);
    assert.ok(split);
    for (const text of texts)
      for (const special of [false, true])
        assert.deepEqual(
          split.encode(text, special),
          tokenizer.encode(text, { add_special_tokens: special }).ids,
          `${JSON.stringify(text.slice(0, 40))}, special tokens ${special}`,
        );
  });

  it('hands BPE one word per replacement character', async () => {
    const split = await loadTokenizer(dir);
    const pre = (split as unknown as { tokenizer: { pre_tokenizer: { pre_tokenize_text(t: string, o?: unknown): string[] } } }).tokenizer.pre_tokenizer;
    assert.deepEqual(pre.pre_tokenize_text('The  Congress of', { section_index: 0 }), ['\u2581The', '\u2581', '\u2581Congress', '\u2581of']);
  });
});
