import * as path from 'node:path';
import { Template } from '@huggingface/jinja';
import { LckvError } from './errors';
import { readJsonObject, readTextFile } from './files';
import type { Model } from './model';

/** One turn of a conversation. `developer` is treated as `system`. */
export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool' | (string & {});
  content: string;
}

/**
 * Used when a checkpoint has no chat template: plain "User:" / "Assistant:" turns, the
 * system prompt first. The tokenizer adds its own special tokens (e.g. <s>) around it.
 */
export const FALLBACK_CHAT_TEMPLATE =
  "{% for message in messages %}" +
  "{% if message['role'] == 'system' %}{{ message['content'] + '\\n\\n' }}" +
  "{% elif message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\\n' }}" +
  "{% else %}{{ 'Assistant: ' + message['content'] + '\\n' }}{% endif %}" +
  "{% endfor %}" +
  "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";

/** Special-token strings a template may use (bos_token, eos_token, ...). */
export type SpecialTokens = Record<string, string>;

/** A conversation checked and ready to render: all another thread needs to render it. */
export interface PreparedChat {
  /** The template's Jinja source. */
  source: string;
  specialTokens: SpecialTokens;
  messages: { role: string; content: string }[];
  addGenerationPrompt: boolean;
}

/**
 * A checkpoint's chat template (tokenizer_config.json `chat_template`, or chat_template.jinja),
 * rendered with @huggingface/jinja the way transformers' apply_chat_template does.
 */
export class ChatTemplate {
  /** The Jinja source. */
  readonly source: string;
  /** True when the checkpoint ships its own template; false for FALLBACK_CHAT_TEMPLATE. */
  readonly fromCheckpoint: boolean;
  /**
   * Stop strings a reply should end at besides the eos token. The fallback template stops
   * where the model starts writing the user's next turn.
   */
  readonly stop: string[];
  private readonly template: Template;

  constructor(
    source: string | undefined,
    /** The strings bos_token, eos_token, ... stand for when the template renders. */
    readonly specialTokens: SpecialTokens = {},
  ) {
    for (const [name, value] of Object.entries(specialTokens ?? {}))
      if (typeof value !== 'string') throw new LckvError('INVALID_ARGUMENT', `specialTokens.${name} must be a string`);
    this.fromCheckpoint = typeof source === 'string' && source.length > 0;
    this.source = this.fromCheckpoint ? (source as string) : FALLBACK_CHAT_TEMPLATE;
    this.stop = this.fromCheckpoint ? [] : ['\nUser:'];
    try {
      this.template = new Template(this.source);
    } catch (err) {
      throw new LckvError('INVALID_TOKENIZER', `the chat template cannot be parsed: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The prompt text for `messages`, ending with the assistant's cue unless told otherwise. */
  render(messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): string {
    return this.renderPrepared(this.prepare(messages, options));
  }

  /** `messages` checked (INVALID_ARGUMENT names a bad one) and put in the form the template reads. */
  prepare(messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): PreparedChat {
    if (!Array.isArray(messages)) throw new LckvError('INVALID_ARGUMENT', 'messages must be an array');
    const addGenerationPrompt = options.addGenerationPrompt ?? true;
    if (typeof addGenerationPrompt !== 'boolean') throw new LckvError('INVALID_ARGUMENT', 'addGenerationPrompt must be a boolean');
    // Array.from, not map: a hole in a sparse array is a bad message too.
    const list = Array.from(messages, (m, i) => {
      if (typeof m !== 'object' || m === null || typeof m.role !== 'string' || typeof m.content !== 'string')
        throw new LckvError('INVALID_ARGUMENT', `messages[${i}] must be { role: string, content: string }`);
      return { role: m.role === 'developer' ? 'system' : m.role, content: m.content };
    });
    return { source: this.source, specialTokens: this.specialTokens, messages: list, addGenerationPrompt };
  }

  /** The prompt text of a prepared conversation (this template's, or a copy's on another thread). */
  renderPrepared(chat: PreparedChat): string {
    try {
      return this.template.render({ ...chat.specialTokens, messages: chat.messages, add_generation_prompt: chat.addGenerationPrompt });
    } catch (err) {
      throw new LckvError('INVALID_ARGUMENT', `the chat template rejected the messages: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Token ids of the rendered prompt (model.tokenizeChat with this template). A checkpoint's
   * template writes its own special tokens (as apply_chat_template does, nothing is added);
   * the fallback lets the tokenizer add them.
   */
  async tokenize(model: Model, messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean; signal?: AbortSignal } = {}): Promise<number[]> {
    return model.tokenizeChat(messages, { ...options, template: this });
  }
}

function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  // Older configs write AddedToken objects: { "content": "<s>", ... }.
  if (typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string')
    return (v as { content: string }).content;
  return undefined;
}

/**
 * Reads the chat template of a checkpoint directory: chat_template.jinja when present, else
 * tokenizer_config.json's `chat_template` (a string, or a list of named templates, of which
 * "default" or the first is used), else the fallback template.
 */
export async function loadChatTemplate(dir: string): Promise<ChatTemplate> {
  const config = (await readJsonObject(path.join(dir, 'tokenizer_config.json'), 'INVALID_TOKENIZER')) ?? {};
  const special: SpecialTokens = {};
  for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
    const s = tokenString(config[key]);
    if (s !== undefined) special[key] = s;
  }
  let source = await readTextFile(path.join(dir, 'chat_template.jinja'));
  if (source === undefined) {
    const t = config.chat_template;
    if (typeof t === 'string') source = t;
    else if (Array.isArray(t)) {
      const named = t.filter((e) => typeof e?.template === 'string') as { name?: string; template: string }[];
      source = (named.find((e) => e.name === 'default') ?? named[0])?.template;
    }
  }
  return new ChatTemplate(source, special);
}
