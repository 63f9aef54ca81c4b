import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { LckvError } from './errors';
import { readJsonObject } from './files';
import { ChatTemplate } from './chat-template';
import { TokenizerThread, abortedError, type EncodeRequest, type TokenizerSource } from './tokenizer-thread';

/** The part of a Metaspace pre-tokenizer this module reaches into. */
interface MetaspacePreTokenizer {
  replacement: string;
  pre_tokenize_text(text: string, options?: unknown): string[];
}

/**
 * @huggingface/tokenizers (0.2) ignores a Metaspace pre-tokenizer's `split: true`: the whole
 * text reaches BPE as one word, which costs O(n log n) and misses the word cache (~24 us of
 * event-loop time per character, 150 ms for a 10 KB prompt). The Rust tokenizers split
 * before each replacement character; so does this, giving BPE the words its merges were
 * trained on (none crosses a replacement character, so the ids are the same).
 */
function splitMetaspaceWords(tokenizer: Tokenizer, json: Record<string, unknown>): void {
  const spec = json.pre_tokenizer as { type?: unknown; split?: unknown } | null | undefined;
  const pre = (tokenizer as unknown as { pre_tokenizer?: MetaspacePreTokenizer }).pre_tokenizer;
  if (spec?.type !== 'Metaspace' || spec.split !== true || typeof pre?.pre_tokenize_text !== 'function') return;
  const whole = pre.pre_tokenize_text.bind(pre);
  const mark = pre.replacement;
  pre.pre_tokenize_text = (text, options) => whole(text, options).flatMap((piece) => splitBefore(piece, mark));
}

/** `text` cut before every occurrence of `mark` (the pieces start with it, but maybe the first). */
function splitBefore(text: string, mark: string): string[] {
  const pieces: string[] = [];
  let start = 0;
  for (let at = text.indexOf(mark, 1); at > 0; at = text.indexOf(mark, at + mark.length)) {
    pieces.push(text.slice(start, at));
    start = at;
  }
  pieces.push(text.slice(start));
  return pieces;
}

/**
 * Texts shorter than this are encoded on the calling thread: a worker's round trip costs
 * more. A conversation counts its contents plus CHAT_MESSAGE_CHARS a message (rendering
 * costs ~30 us a message).
 */
export const OFF_THREAD_CHARS = 2048;
const CHAT_MESSAGE_CHARS = 16;

function requestChars(request: EncodeRequest): number {
  if ('text' in request) return request.text.length;
  let chars = 0;
  for (const m of request.chat.messages) chars += m.content.length + CHAT_MESSAGE_CHARS;
  return chars;
}

/**
 * A checkpoint's tokenizer. Encoding costs ~1-7 us per character on the calling thread, so
 * `encodeOffThread` hands long texts to a worker thread holding its own copy.
 */
export class TextTokenizer {
  private readonly tokenizer: Tokenizer;
  private thread: TokenizerThread | undefined;
  /** The last few chat templates, by source, for conversations rendered from a source alone. */
  private readonly templates = new Map<string, ChatTemplate>();

  constructor(private readonly source: TokenizerSource) {
    try {
      this.tokenizer = new Tokenizer(source.json, source.config);
      splitMetaspaceWords(this.tokenizer, source.json);
    } catch (err) {
      throw new LckvError('INVALID_TOKENIZER', `tokenizer.json cannot be loaded: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Text -> ids; a failure inside the tokenizer (a post-processor it cannot apply, ...) is INVALID_TOKENIZER. */
  encode(text: string, addSpecialTokens: boolean): number[] {
    try {
      return this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids;
    } catch (err) {
      throw new LckvError('INVALID_TOKENIZER', `tokenizer.json cannot encode text: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * The ids of a text, or of a conversation rendered by `template` (default: one built from
   * the conversation's source, as the worker does).
   */
  encodeRequest(request: EncodeRequest, template?: ChatTemplate): number[] {
    const text = 'text' in request ? request.text : (template ?? this.templateOf(request.chat.source)).renderPrepared(request.chat);
    return this.encode(text, request.addSpecialTokens);
  }

  /**
   * encodeRequest(), on a worker thread from OFF_THREAD_CHARS on (here, with `template`,
   * below that or when no worker can run); rejects with ABORTED once `signal` aborts.
   */
  async encodeOffThread(request: EncodeRequest, signal?: AbortSignal, template?: ChatTemplate): Promise<number[]> {
    if (signal?.aborted) throw abortedError();
    if (requestChars(request) < OFF_THREAD_CHARS) return this.encodeRequest(request, template);
    this.thread ??= new TokenizerThread(this.source, (r) => this.encodeRequest(r));
    return this.thread.encode(request, signal);
  }

  private templateOf(source: string): ChatTemplate {
    let template = this.templates.get(source);
    if (!template) {
      // A few at most: an app may build a template per request.
      if (this.templates.size >= 8) this.templates.delete(this.templates.keys().next().value!);
      this.templates.set(source, (template = new ChatTemplate(source)));
    }
    return template;
  }

  /** Ids -> text, special tokens skipped; no ids is the empty text. Failures are INVALID_TOKENIZER. */
  decode(ids: number[]): string {
    if (ids.length === 0) return '';
    try {
      return this.tokenizer.decode(ids, { skip_special_tokens: true });
    } catch (err) {
      throw new LckvError('INVALID_TOKENIZER', `tokenizer.json cannot decode ids: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Ends the worker thread, if one was started; later calls encode here. */
  close(): void {
    this.thread?.close();
  }
}

/** The checkpoint's tokenizer (tokenizer.json), or undefined when it has none. */
export async function loadTokenizer(dir: string): Promise<TextTokenizer | undefined> {
  const config = (await readJsonObject(path.join(dir, 'tokenizer_config.json'), 'INVALID_TOKENIZER')) ?? {};
  const json = await readJsonObject(path.join(dir, 'tokenizer.json'), 'INVALID_TOKENIZER');
  return json ? new TextTokenizer({ json, config }) : undefined;
}

/**
 * Turns a growing list of token ids into text pieces, never splitting a UTF-8 character:
 * a piece is released only once its decoding no longer ends in a replacement character.
 */
export class IncrementalDecoder {
  private ids: number[];
  private prefixOffset = 0;
  private readOffset: number;

  /**
   * `context`: the last few prompt ids. Decoding the first tokens after them keeps what a
   * decoder drops at the start of a text (e.g. the leading space of "▁word").
   */
  constructor(
    private readonly decode: (ids: number[]) => string,
    context: readonly number[] = [],
  ) {
    this.ids = [...context];
    this.readOffset = context.length;
  }

  push(id: number): string {
    this.ids.push(id);
    const prefix = this.text(this.prefixOffset, this.readOffset);
    const full = this.text(this.prefixOffset, this.ids.length);
    if (full.length <= prefix.length || full.endsWith('\uFFFD')) return '';
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return full.slice(prefix.length);
  }

  private text(begin: number, end: number): string {
    return begin < end ? this.decode(this.ids.slice(begin, end)) : '';
  }
}
