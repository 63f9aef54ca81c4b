// The OpenAI-compatible server (lib/server) on a random loopback port, driven by the
// official openai client (and plain fetch where the client would hide the HTTP details).
// The model is a tiny random checkpoint with the bundled model's tokenizer.

import { strict as assert } from 'node:assert';
import type * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { createServer, LckvError, loadChatTemplate, loadModel, type ChatTemplate, type Model, type ServerOptions } from '../lib';
import { removeDir } from './fixtures';
import { madeUpWords, textCheckpoint } from './helpers/tokenizer';

const CONTEXT = 256;

interface Running {
  server: http.Server;
  url: string;
  client: OpenAI;
  close(): Promise<void>;
}

async function start(model: Model, options: ServerOptions & { clientKey?: string } = {}): Promise<Running> {
  const server = createServer(model, { modelId: 'tiny', ...options });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: options.clientKey ?? 'none', maxRetries: 0, timeout: 60_000 });
  return {
    server,
    url,
    client,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Sends raw bytes on a fresh connection; resolves with everything the server wrote until it closed. */
function raw(url: string, request: string, waitMs = 5000): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(request));
    let got = '';
    socket.setEncoding('utf8').on('data', (d) => (got += d));
    socket.on('error', reject);
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

/** The JSON error body of a raw HTTP answer, and its status. */
function rawError(answer: string): { status: number; error: { message: string; type: string; code: string | null } } {
  const status = Number(/^HTTP\/1\.1 (\d+)/.exec(answer)?.[1]);
  const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
  return { status, ...(JSON.parse(body) as { error: { message: string; type: string; code: string | null } }) };
}

async function health(url: string): Promise<{ status: string; active: number }> {
  const r = await fetch(`${url}/health`);
  assert.equal(r.status, 200);
  return (await r.json()) as { status: string; active: number };
}

async function until(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('server (OpenAI-compatible HTTP)', function () {
  let dir: string;
  let model: Model;
  let template: ChatTemplate;
  let s: Running;

  before(async () => {
    dir = textCheckpoint('lckv-server-', CONTEXT);
    model = await loadModel(dir);
    template = await loadChatTemplate(dir);
    s = await start(model, {});
  });

  after(async () => {
    await s?.close();
    await model?.dispose();
    if (dir) removeDir(dir);
  });

  it('bad createServer options throw an LckvError INVALID_ARGUMENT, naming the option', () => {
    const bad: [unknown, RegExp][] = [
      [{ maxQueue: 0 }, /maxQueue/],
      [{ apiKey: '' }, /apiKey/],
      [{ maxBodyBytes: 1.5 }, /maxBodyBytes/],
      [{ log: 'yes' }, /log/],
    ];
    for (const [options, name] of bad)
      assert.throws(
        () => createServer(model, options as ServerOptions),
        (e: unknown) => e instanceof LckvError && e.code === 'INVALID_ARGUMENT' && name.test(e.message),
      );
  });

  it('GET /health and GET /v1/models', async () => {
    assert.deepEqual(await health(s.url), { status: 'ok', model: 'tiny', active: 0, max_queue: 64 });
    const list = await s.client.models.list();
    assert.deepEqual(
      list.data.map((m) => [m.id, m.object, m.owned_by]),
      [['tiny', 'model', 'lckv']],
    );
    const one = await s.client.models.retrieve('tiny');
    assert.equal(one.id, 'tiny');
    await assert.rejects(s.client.models.retrieve('other'), (e: unknown) => e instanceof OpenAI.NotFoundError);
  });

  it('a completion equals model.generate, with usage figures', async () => {
    const r = await s.client.completions.create({ model: 'tiny', prompt: 'The jury said', max_tokens: 10, temperature: 0 });
    const direct = await model.generate('The jury said', { maxTokens: 10, temperature: 0 });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.model, 'tiny');
    assert.match(r.id, /^cmpl-/);
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].text, direct.text);
    assert.equal(r.choices[0].finish_reason, direct.finishReason);
    assert.deepEqual(r.usage, {
      prompt_tokens: model.tokenize('The jury said').length,
      completion_tokens: direct.tokens.length,
      total_tokens: model.tokenize('The jury said').length + direct.tokens.length,
    });
  });

  it('completions honour seed, stop, token-id prompts and echo', async () => {
    const sampled = { model: 'tiny', prompt: 'It was', max_tokens: 12, temperature: 0.9, top_k: 50, seed: 42 };
    const a = await s.client.completions.create(sampled);
    const b = await s.client.completions.create(sampled);
    assert.equal(a.choices[0].text, b.choices[0].text);

    const greedy = await s.client.completions.create({ model: 'tiny', prompt: 'It was', max_tokens: 16, temperature: 0 });
    const text = greedy.choices[0].text;
    if (text.length >= 6) {
      const stop = text.slice(3, 5);
      const cut = await s.client.completions.create({ model: 'tiny', prompt: 'It was', max_tokens: 16, temperature: 0, stop: [stop] });
      assert.equal(cut.choices[0].text, text.slice(0, text.indexOf(stop)));
      assert.equal(cut.choices[0].finish_reason, 'stop');
    }
    const ids = model.tokenize('It was');
    const byIds = await s.client.completions.create({ model: 'tiny', prompt: ids, max_tokens: 16, temperature: 0 });
    assert.equal(byIds.choices[0].text, text);
    const echoed = await s.client.completions.create({ model: 'tiny', prompt: 'It was', max_tokens: 16, temperature: 0, echo: true });
    assert.equal(echoed.choices[0].text, 'It was' + text);
  });

  it('a streamed chat completion assembles to the non-streamed one', async () => {
    const messages = [
      { role: 'system' as const, content: 'You are terse.' },
      { role: 'user' as const, content: 'Tell me about the weather.' },
    ];
    const stream = await s.client.chat.completions.create({
      model: 'tiny',
      messages,
      max_tokens: 12,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = '';
    let role: string | undefined;
    const finishes: string[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.match(chunk.id, /^chatcmpl-/);
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        role ??= c.delta.role ?? undefined;
        content += c.delta.content ?? '';
        if (c.finish_reason) finishes.push(c.finish_reason);
      }
    }
    assert.ok(chunks >= 3);
    assert.equal(role, 'assistant');
    assert.equal(finishes.length, 1);

    const whole = await s.client.chat.completions.create({ model: 'tiny', messages, max_tokens: 12, temperature: 0 });
    assert.equal(whole.object, 'chat.completion');
    assert.equal(whole.choices[0].message.role, 'assistant');
    assert.equal(content, whole.choices[0].message.content);
    assert.equal(finishes[0], whole.choices[0].finish_reason);
    assert.deepEqual(usage, whole.usage);

    // The prompt is the checkpoint's chat template, rendered and tokenized the same way.
    const ids = await template.tokenize(model, messages);
    assert.ok(template.render(messages).startsWith('<s>You are terse.\nUser: Tell me about the weather.\nAssistant:'));
    const direct = await model.generate(ids, { maxTokens: 12, temperature: 0 });
    assert.equal(content, direct.text);
    assert.equal(usage?.prompt_tokens, ids.length);
  });

  it('16 concurrent streamed requests each equal their solo run', async () => {
    const request = (i: number) =>
      ({
        model: 'tiny',
        messages: [{ role: 'user' as const, content: `Question number ${i}?` }],
        max_tokens: 8,
        // Half greedy, half sampled with a seed: neither may depend on the other requests.
        ...(i % 2 === 0 ? { temperature: 0 } : { temperature: 0.8, seed: 1000 + i }),
      });
    const collect = async (i: number) => {
      const stream = await s.client.chat.completions.create({ ...request(i), stream: true });
      let text = '';
      let finish: string | null = null;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      return { text, finish };
    };
    const solo: { text: string; finish: string | null }[] = [];
    for (let i = 0; i < 16; i++) solo.push(await collect(i));
    const together = await Promise.all(Array.from({ length: 16 }, (_, i) => collect(i)));
    assert.deepEqual(together, solo);
    assert.ok(solo.every((r) => r.finish === 'stop' || r.finish === 'length'));
    assert.equal((await health(s.url)).active, 0);
  });

  it('request targets that are not routable paths are JSON 4xx answers, and the server lives on', async () => {
    for (const target of ['/v1/models/%E0%A4%A', '/v1/models/%zz', '//x:99999/', 'http://[/health', '//%/health']) {
      const answer = await raw(s.url, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const { status, error } = rawError(answer);
      assert.ok(status === 400 || status === 404, `${target}: ${answer.slice(0, 80)}`);
      assert.equal(error.type, 'invalid_request_error', target);
    }
    assert.equal((await health(s.url)).status, 'ok');
  });

  it("requests Node's parser refuses get the same JSON error shape", async () => {
    const garbage = rawError(await raw(s.url, 'GARBAGE\r\n\r\n'));
    assert.equal(garbage.status, 400);
    assert.equal(garbage.error.code, 'malformed_request');
    const huge = rawError(await raw(s.url, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
    assert.equal(huge.status, 431);
  });

  // Whether generation stops early is the next test's; on this tiny model 200 tokens take
  // about as long as the 100 ms the client waits. What this one catches is a pipelined
  // response waiting forever for a connection that is gone, its slot never freed.
  it('a client that drops a connection with pipelined requests leaves no slot or sequence behind', async () => {
    const body = (n: number) => JSON.stringify({ model: 'tiny', prompt: 'Once upon a time', max_tokens: n, temperature: 0.8, min_p: 0 });
    const post = (b: string) => `POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`;
    const stream = JSON.stringify({ model: 'tiny', prompt: 'The county', max_tokens: 200, stream: true });
    for (let round = 0; round < 3; round++) {
      await new Promise<void>((resolve) => {
        const socket = net.connect(Number(new URL(s.url).port), '127.0.0.1', () => {
          socket.write(post(body(200)) + post(body(200)) + post(stream));
          setTimeout(() => {
            socket.resetAndDestroy();
            resolve();
          }, 100);
        });
      });
    }
    await until(async () => (await health(s.url)).active === 0);
    await until(async () => model.stats().running === 0 && model.stats().kvBlocksUsed === 0);
  });

  it('a client abort stops its generation; the server keeps serving', async () => {
    const signals: AbortSignal[] = [];
    const spy = new Proxy(model, {
      get(target, prop) {
        if (prop === 'stream')
          return (prompt: number[], options: { signal: AbortSignal }) => {
            signals.push(options.signal);
            return target.stream(prompt, options);
          };
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const local = await start(spy, { chatTemplate: template });
    try {
      const before = await local.client.completions.create({ model: 'tiny', prompt: 'The county', max_tokens: 8, temperature: 0 });
      const stream = await local.client.completions.create({
        model: 'tiny',
        prompt: 'Once upon a time',
        max_tokens: 200,
        temperature: 0.8,
        seed: 3,
        ...{ min_p: 0 }, // an lckv extension the client's types do not know
        stream: true,
      });
      let seen = 0;
      for await (const chunk of stream) {
        void chunk;
        if (++seen === 2) break; // breaking out of the stream aborts the HTTP request
      }
      assert.equal(signals.length, 1);
      await until(async () => signals[0].aborted);
      await until(async () => (await health(local.url)).active === 0);
      const after = await local.client.completions.create({ model: 'tiny', prompt: 'The county', max_tokens: 8, temperature: 0 });
      assert.equal(after.choices[0].text, before.choices[0].text);
    } finally {
      await local.close();
    }
  });

  it('a request counts against the queue bound while its prompt is tokenized; one whose client left meanwhile generates nothing', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const generations: string[] = [];
    // A model whose tokenization waits for the gate, and which records every generation.
    const spy = new Proxy(model, {
      get(target, prop) {
        if (prop === 'tokenizeAsync')
          return async (text: string, options?: object) => {
            await gate;
            return target.tokenizeAsync(text, options);
          };
        const v = Reflect.get(target, prop, target);
        if (prop === 'generate' || prop === 'stream') generations.push(prop);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const local = await start(spy, { maxQueue: 1 });
    try {
      const leaving = new AbortController();
      const first = fetch(`${local.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 50 }),
        signal: leaving.signal,
      });
      await until(async () => (await health(local.url)).active === 1);
      await assert.rejects(
        local.client.completions.create({ model: 'tiny', prompt: 'Second', max_tokens: 2 }),
        (err: unknown) => err instanceof OpenAI.APIError && err.status === 503,
      );
      leaving.abort();
      await assert.rejects(first);
      await new Promise((resolve) => setTimeout(resolve, 100)); // the server sees the connection close
      open();
      await until(async () => (await health(local.url)).active === 0);
      assert.deepEqual(generations, []);
      const later = await local.client.completions.create({ model: 'tiny', prompt: 'Third', max_tokens: 2 });
      assert.equal(later.choices.length, 1);
      assert.deepEqual(generations, ['generate']);
    } finally {
      open();
      await local.close();
    }
  });

  it('a client that leaves while its long prompt is tokenized frees its queue slot at once', async () => {
    const local = await start(model, { maxQueue: 1 });
    try {
      const prompt = madeUpWords(300_000, 11);
      const leaving = new AbortController();
      const first = fetch(`${local.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'tiny', prompt, max_tokens: 5 }),
        signal: leaving.signal,
      });
      await until(async () => (await health(local.url)).active === 1);
      const t0 = performance.now();
      leaving.abort();
      await assert.rejects(first);
      await until(async () => (await health(local.url)).active === 0);
      const freedMs = performance.now() - t0;
      const next = await local.client.completions.create({ model: 'tiny', prompt: 'The county', max_tokens: 2, temperature: 0 });
      assert.equal(next.choices.length, 1);
      const t1 = performance.now();
      model.tokenize(prompt);
      const tokenizeMs = performance.now() - t1;
      assert.ok(freedMs < tokenizeMs / 2, `the slot came back after ${freedMs.toFixed(0)} ms; tokenizing takes ${tokenizeMs.toFixed(0)} ms`);
    } finally {
      await local.close();
    }
  });

  it('an API key is required when set (401), /health stays open', async () => {
    const wrong = await start(model, { apiKey: 'sesame', clientKey: 'wrong' });
    try {
      await assert.rejects(wrong.client.models.list(), (e: unknown) => e instanceof OpenAI.AuthenticationError && e.status === 401);
      const bare = await fetch(`${wrong.url}/v1/completions`, { method: 'POST', body: '{}' });
      assert.equal(bare.status, 401);
      const body = (await bare.json()) as { error: { type: string; code: string } };
      assert.equal(body.error.code, 'invalid_api_key');
      assert.equal((await health(wrong.url)).status, 'ok');
      const right = new OpenAI({ baseURL: `${wrong.url}/v1`, apiKey: 'sesame', maxRetries: 0 });
      const r = await right.completions.create({ model: 'tiny', prompt: 'Yes', max_tokens: 2, temperature: 0 });
      assert.equal(r.choices.length, 1);
    } finally {
      await wrong.close();
    }
  });

  it('malformed JSON and fields of the wrong type are 400 in OpenAI error shape', async () => {
    const post = (route: string, body: string) =>
      fetch(`${s.url}${route}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    const broken = await post('/v1/chat/completions', '{"model": "tiny", "messages": [');
    assert.equal(broken.status, 400);
    const e = ((await broken.json()) as { error: Record<string, unknown> }).error;
    assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(e.type, 'invalid_request_error');
    assert.equal(e.code, 'invalid_json');

    const cases: [string, unknown, string][] = [
      ['/v1/completions', { prompt: 'x', max_tokens: 'ten' }, 'max_tokens'],
      ['/v1/completions', { prompt: 'x', temperature: 3 }, 'temperature'],
      ['/v1/completions', { prompt: 42 }, 'prompt'],
      ['/v1/completions', { prompt: 'x', stop: [1] }, 'stop'],
      ['/v1/completions', { prompt: 'x', stream: 'yes' }, 'stream'],
      ['/v1/chat/completions', { messages: 'hi' }, 'messages'],
      ['/v1/chat/completions', { messages: [{ role: 'wizard', content: 'hi' }] }, 'messages[0].role'],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], n: 2 }, 'n'],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'hi' }], top_p: -1 }, 'top_p'],
    ];
    for (const [route, body, param] of cases) {
      const r = await post(route, JSON.stringify(body));
      assert.equal(r.status, 400, `${route} ${JSON.stringify(body)}`);
      assert.equal(((await r.json()) as { error: { param: string } }).error.param, param);
    }
    assert.equal((await post('/v1/completions', '[1, 2]')).status, 400);

    // The openai client surfaces these as BadRequestError.
    await assert.rejects(
      s.client.completions.create({ model: 'tiny', prompt: 'x', top_p: 5 }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === 'top_p',
    );
  });

  it('a prompt past the context is 400 context_length_exceeded', async () => {
    const long = 'the quick brown fox jumps over the lazy dog '.repeat(100);
    await assert.rejects(
      s.client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: long }], max_tokens: 2 }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.code === 'context_length_exceeded',
    );
    await assert.rejects(
      s.client.completions.create({ model: 'tiny', prompt: long, max_tokens: 2, stream: true }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.code === 'context_length_exceeded',
    );
  });

  it('an oversize body is 413; unknown routes 404; wrong methods 405', async () => {
    const small = await start(model, { maxBodyBytes: 1024 });
    try {
      const big = JSON.stringify({ model: 'tiny', prompt: 'x'.repeat(4096) });
      const r = await fetch(`${small.url}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: big });
      assert.equal(r.status, 413);
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'request_too_large');
      // A body within the limit still works afterwards.
      const ok = await small.client.completions.create({ model: 'tiny', prompt: 'x', max_tokens: 1 });
      assert.equal(ok.choices.length, 1);
    } finally {
      await small.close();
    }
    const missing = await fetch(`${s.url}/v2/nothing`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'not_found');
    const wrongMethod = await fetch(`${s.url}/v1/completions`);
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'POST');
    assert.equal((await fetch(`${s.url}/v1/models`, { method: 'DELETE' })).status, 405);
  });

  it('requests past the queue bound get 503 while the model is busy', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    // A model whose generations wait for the gate, so the first request stays in progress.
    const slow = new Proxy(model, {
      get(target, prop) {
        if (prop === 'generate')
          return async (prompt: number[], options: object) => {
            await gate;
            return target.generate(prompt, options);
          };
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const busy = await start(slow, { maxQueue: 1 });
    try {
      const first = busy.client.completions.create({ model: 'tiny', prompt: 'First', max_tokens: 2, temperature: 0 });
      await until(async () => (await health(busy.url)).active === 1);
      await assert.rejects(
        busy.client.completions.create({ model: 'tiny', prompt: 'Second', max_tokens: 2 }),
        (err: unknown) => err instanceof OpenAI.APIError && err.status === 503,
      );
      open();
      assert.equal((await first).choices.length, 1);
      const later = await busy.client.completions.create({ model: 'tiny', prompt: 'Third', max_tokens: 2 });
      assert.equal(later.choices.length, 1);
    } finally {
      open();
      await busy.close();
    }
  });
});
