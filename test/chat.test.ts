// model.chat / model.streamChat: a reply prompted through the checkpoint's chat template
// (or the plain fallback), equal to generate() on the prompt the template describes.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createServer, DEFAULT_MODEL_DIR, FALLBACK_CHAT_TEMPLATE, loadChatTemplate, loadModel, type ChatMessage, type Model } from '../lib';
import { expectLckvError, TmpDirs, readJson, writeJson } from './helpers/robustness';

const MESSAGES: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'What did the President say about the economy?' },
];
const GREEDY = { temperature: 0, maxTokens: 24 };

/** A copy of the bundled model whose tokenizer_config.json is changed by `edit`. */
function bundledCopy(dirs: TmpDirs, edit: (config: Record<string, unknown>) => void): string {
  const dir = dirs.make('lckv-chat-');
  for (const f of fs.readdirSync(DEFAULT_MODEL_DIR)) fs.copyFileSync(path.join(DEFAULT_MODEL_DIR, f), path.join(dir, f));
  const config = readJson(path.join(dir, 'tokenizer_config.json'));
  edit(config);
  writeJson(path.join(dir, 'tokenizer_config.json'), config);
  return dir;
}

async function collect(stream: AsyncGenerator<{ text: string }, unknown>) {
  let text = '';
  for (;;) {
    const step = await stream.next();
    if (step.done) return { text, result: step.value };
    text += step.value.text;
  }
}

describe('model.chat and model.streamChat', function () {
  const dirs = new TmpDirs();
  let model: Model;

  before(async () => {
    model = await loadModel();
  });

  after(async () => {
    await model?.dispose();
    dirs.removeAll();
  });

  it("replies to the checkpoint's template rendered and tokenized without added special tokens", async () => {
    const template = await loadChatTemplate(DEFAULT_MODEL_DIR);
    assert.ok(template.fromCheckpoint);
    assert.equal(model.chatTemplate.source, readJson(path.join(DEFAULT_MODEL_DIR, 'tokenizer_config.json')).chat_template);
    const text = '<s>You are terse.\nUser: What did the President say about the economy?\nAssistant:';
    assert.equal(template.render(MESSAGES), text);
    // The bundled template writes <s> (id 1 in its tokenizer.json) itself: the tokenizer must not add a second one.
    const ids = model.tokenize(text, { addSpecialTokens: false });
    assert.equal(ids.filter((id) => id === 1).length, 1);
    const expected = await model.generate(ids, GREEDY);
    const reply = await model.chat(MESSAGES, GREEDY);
    assert.deepEqual(reply, expected);
    assert.ok(reply.tokens.length > 0);

    const streamed = await collect(model.streamChat(MESSAGES, GREEDY));
    assert.equal(streamed.text, expected.text);
    assert.deepEqual(streamed.result, expected);
  });

  it('without a template: the fallback, with the tokenizer adding <s>, its stop string merged with options.stop', async () => {
    const dir = bundledCopy(dirs, (c) => delete c.chat_template);
    const plain = await loadModel(dir);
    try {
      assert.equal(plain.chatTemplate.fromCheckpoint, false);
      assert.equal(plain.chatTemplate.source, FALLBACK_CHAT_TEMPLATE);
      const text = 'You are terse.\n\nUser: What did the President say about the economy?\nAssistant:';
      assert.equal(plain.chatTemplate.render(MESSAGES), text);
      const ids = plain.tokenize(text);
      const free = await plain.generate(ids, GREEDY);
      assert.equal(await plain.chat(MESSAGES, GREEDY).then((r) => r.text), (await plain.generate(ids, { ...GREEDY, stop: '\nUser:' })).text);
      // A stop of the caller's, taken from the unconstrained reply, ends it as well.
      const word = free.text.trim().split(/\s+/)[1];
      assert.ok(word, `a reply of two words at least: ${JSON.stringify(free.text)}`);
      const stopped = await plain.chat(MESSAGES, { ...GREEDY, stop: [word] });
      assert.equal(stopped.finishReason, 'stop');
      assert.deepEqual(stopped, await plain.generate(ids, { ...GREEDY, stop: [word, '\nUser:'] }));
      assert.ok(!stopped.text.includes(word));
    } finally {
      await plain.dispose();
    }
  });

  it('an unparsable template: the model loads and generates; chat, chatTemplate and createServer are INVALID_TOKENIZER', async () => {
    const dir = bundledCopy(dirs, (c) => (c.chat_template = '{% for message in %}'));
    const broken = await loadModel(dir);
    try {
      assert.ok((await broken.generate('The', { maxTokens: 2 })).tokens.length > 0);
      await expectLckvError(() => broken.chat(MESSAGES), 'INVALID_TOKENIZER');
      await expectLckvError(() => collect(broken.streamChat(MESSAGES)), 'INVALID_TOKENIZER');
      await expectLckvError(() => broken.chatTemplate, 'INVALID_TOKENIZER');
      await expectLckvError(() => createServer(broken), 'INVALID_TOKENIZER');
      // An explicit template still serves.
      createServer(broken, { chatTemplate: model.chatTemplate });
    } finally {
      await broken.dispose();
    }
  });

  it('bad messages are INVALID_ARGUMENT, a prompt past the context CONTEXT_OVERFLOW, a disposed model DISPOSED', async () => {
    await expectLckvError(() => model.chat('hello' as unknown as ChatMessage[]), 'INVALID_ARGUMENT');
    await expectLckvError(() => model.chat([{ role: 'user' } as ChatMessage]), 'INVALID_ARGUMENT');
    await expectLckvError(() => model.chat(MESSAGES, { temperature: -1 }), 'INVALID_ARGUMENT');
    const long = [{ role: 'user', content: 'the '.repeat(model.info.contextLength) }];
    await expectLckvError(() => model.chat(long), 'CONTEXT_OVERFLOW');
    const other = await loadModel();
    await other.dispose();
    await expectLckvError(() => other.chat(MESSAGES), 'DISPOSED');
    await expectLckvError(() => collect(other.streamChat(MESSAGES)), 'DISPOSED');
  });
});
