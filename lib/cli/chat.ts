import * as readline from 'node:readline';
import { LckvError } from '../errors';
import type { Model } from '../model';
import type { ChatMessage } from '../chat-template';
import {
  MODEL_FLAGS,
  MODEL_USAGE,
  SAMPLING_FLAGS,
  SAMPLING_USAGE,
  UsageError,
  lineLimitedStdin,
  modelArgs,
  openModel,
  out,
  parse,
  samplingArgs,
  watchStdout,
  type Command,
} from './common';
import type { GenerateOptions } from '../options';

const COMMANDS_HELP = `  /reset    forget the conversation (the system prompt stays)
  /exit     leave (also /quit, Ctrl-D, or Ctrl-C twice at the prompt)
  /help     this list`;

export const chat: Command = {
  name: 'chat',
  synopsis: 'chat [--model DIR] [--system TEXT] [options]',
  summary: 'interactive chat in the terminal',
  usage: `Usage: lckv chat [--model DIR] [--system TEXT] [options]

Chats with the model in the terminal, using the checkpoint's chat template
(chat_template.jinja, else tokenizer_config.json "chat_template"; a plain "User:/Assistant:"
template when it has none). Ctrl-C stops the current reply; Ctrl-C at an empty prompt
twice, Ctrl-D or /exit leaves. When stdin is not a terminal, every input line is one user
message and each reply is printed on its own line.

In the chat:
${COMMANDS_HELP}

Options:
${MODEL_USAGE}
  --system TEXT               system prompt
${SAMPLING_USAGE}
  -h, --help                  this help`,

  async run(args) {
    const { values, positionals } = parse(args, { ...MODEL_FLAGS, ...SAMPLING_FLAGS, system: { type: 'string' } });
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (type messages at the prompt)`);
    const options = samplingArgs(values);
    const load = modelArgs(values);
    const model = await openModel(load);
    try {
      return await new ChatSession(model, options, values.system).run();
    } finally {
      await model.dispose();
    }
  },
};

class ChatSession {
  private readonly history: ChatMessage[] = [];
  private readonly tty = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  private current: AbortController | undefined;
  private exitArmed = false;
  private rl!: readline.Interface;

  constructor(
    private readonly model: Model,
    private readonly options: GenerateOptions,
    private readonly system: string | undefined,
  ) {
    if (system) this.history.push({ role: 'system', content: system });
  }

  async run(): Promise<number> {
    const input = this.tty ? process.stdin : lineLimitedStdin();
    this.rl = readline.createInterface({ input, output: process.stdout, terminal: this.tty, historySize: 100 });
    this.rl.setPrompt(this.tty ? '> ' : '');
    const onSigint = () => this.interrupt();
    // On a terminal readline turns Ctrl-C into its own 'SIGINT'; a real signal can still come (kill -INT).
    this.rl.on('SIGINT', onSigint);
    process.on('SIGINT', onSigint);
    const unwatch = watchStdout(() => {
      this.current?.abort();
      this.rl.close();
    });
    if (this.tty) {
      out(`Chatting with the model (${this.model.chatTemplate.fromCheckpoint ? 'its chat template' : 'plain User/Assistant template'}). /help lists commands.\n`);
      this.rl.prompt();
    }
    try {
      for await (const line of this.rl) {
        this.exitArmed = false;
        const text = line.trim();
        if (text === '') {
          if (this.tty) this.rl.prompt();
          continue;
        }
        if (text.startsWith('/')) {
          if (!this.command(text)) break;
        } else await this.reply(line);
        if (this.tty) this.rl.prompt();
      }
    } finally {
      process.off('SIGINT', onSigint);
      unwatch();
      this.current?.abort();
      this.rl.close();
    }
    if (this.tty) out('\n');
    return 0;
  }

  /** Ctrl-C: stops the reply in progress; at the prompt, clears the line or (twice) exits. */
  private interrupt(): void {
    if (this.current) {
      this.current.abort();
      return;
    }
    if (!this.tty) {
      this.rl.close();
      return;
    }
    const rl = this.rl as readline.Interface & { line: string };
    if (rl.line.length > 0) {
      rl.write(null, { ctrl: true, name: 'u' });
      this.exitArmed = false;
      return;
    }
    if (this.exitArmed) {
      this.rl.close();
      return;
    }
    this.exitArmed = true;
    out('\n(To exit, press Ctrl-C again, Ctrl-D or type /exit)\n');
    this.rl.prompt();
  }

  /** Handles a /command; false means leave. */
  private command(text: string): boolean {
    const name = text.split(/\s+/)[0];
    switch (name) {
      case '/exit':
      case '/quit':
        return false;
      case '/reset':
        this.history.splice(this.system ? 1 : 0);
        out('(conversation cleared)\n');
        return true;
      case '/help':
        out(COMMANDS_HELP + '\n');
        return true;
      default:
        out(`unknown command ${name}; /help lists them\n`);
        return true;
    }
  }

  /**
   * Drops the oldest turns until the conversation's prompt leaves room for a reply; false
   * (and the newest message dropped) when that message alone does not fit the context.
   */
  private async fitHistory(): Promise<boolean> {
    const context = this.model.info.contextLength;
    // Leave room for a reply: a quarter of the context (or maxTokens when smaller).
    const room = Math.min(this.options.maxTokens ?? 256, Math.floor(context / 4));
    const tokens = async (messages: ChatMessage[]) => (await this.model.chatTemplate.tokenize(this.model, messages)).length;
    const newest = this.history[this.history.length - 1];
    if ((await tokens(this.history.filter((m) => m.role === 'system' || m === newest))) >= context) {
      this.history.pop();
      return false;
    }
    for (;;) {
      const first = this.history.findIndex((m) => m.role !== 'system');
      if (first === this.history.length - 1 || (await tokens(this.history)) + room <= context) return true;
      this.history.splice(first, 1);
    }
  }

  private async reply(line: string): Promise<void> {
    this.history.push({ role: 'user', content: line });
    if (!(await this.fitHistory())) {
      process.stderr.write(`(that message is longer than the model's context of ${this.model.info.contextLength} tokens)\n`);
      return;
    }
    const abort = new AbortController();
    this.current = abort;
    let reply = '';
    let failed = false;
    try {
      const stream = this.model.streamChat(this.history, { ...this.options, signal: abort.signal });
      for await (const piece of stream) {
        const text = reply === '' ? piece.text.trimStart() : piece.text;
        reply += text;
        out(text);
      }
      out(abort.signal.aborted && this.tty ? ' [stopped]\n' : '\n');
    } catch (err) {
      failed = true;
      out('\n');
      // On a terminal a failed turn is reported and the chat goes on; in a script it ends it.
      if (!this.tty || !(err instanceof LckvError)) throw err;
      process.stderr.write(`error: ${err.message} [${err.code}]\n`);
    } finally {
      this.current = undefined;
      if (failed) this.history.pop();
      else this.history.push({ role: 'assistant', content: reply.trim() });
    }
  }
}
