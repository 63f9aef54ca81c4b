import type { ModelInfo } from '../info';
import { MODEL_FLAGS, MODEL_USAGE, UsageError, modelArgs, openModel, out, parse, type Command } from './common';

export const info: Command = {
  name: 'info',
  synopsis: 'info [--model DIR] [--json]',
  summary: 'model shape, layer plan and KV memory',
  usage: `Usage: lckv info [--model DIR] [--json]

Prints the model's shape, the layer plan (which layer reads which layer's KV, which
layers are cached) and its KV bytes per token next to a standard transformer's.

Options:
${MODEL_USAGE}
  --json                      print model.info as JSON
  -h, --help                  this help`,

  async run(args) {
    const { values, positionals } = parse(args, { ...MODEL_FLAGS, json: { type: 'boolean' } });
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    const model = await openModel(modelArgs(values));
    try {
      out(values.json ? JSON.stringify(model.info, null, 2) + '\n' : describe(model.info));
    } finally {
      await model.dispose();
    }
  },
};

/** The text `lckv info` prints. */
export function describe(i: ModelInfo): string {
  const c = i.config as Record<string, unknown>;
  const lines: string[] = [];
  lines.push(`model type        ${i.modelType}`);
  lines.push(`parameters        ${(i.parameters / 1e6).toFixed(2)} M`);
  lines.push(
    `shape             ${c.num_hidden_layers} layers, hidden ${c.hidden_size}, ${c.num_attention_heads} heads, ` +
      `${c.num_key_value_heads ?? c.num_attention_heads} KV heads, ffn ${c.intermediate_size}, vocab ${i.vocabSize}`,
  );
  lines.push(`context           ${i.contextLength} tokens`);
  lines.push(`tokenizer         ${i.hasTokenizer ? 'tokenizer.json' : 'none (token ids only)'}`);
  lines.push(`compute           ${i.isa}, ${i.threads} threads`);
  lines.push('layer plan        (layer <- the layer whose KV it reads)');
  for (const l of [...i.layerPlan].reverse()) {
    const notes = [l.cached ? 'cached' : '', l.attendsTop ? 'attends up, diagonal masked' : '', l.sliding ? `sliding ${i.slidingWindow}` : '']
      .filter(Boolean)
      .join(', ');
    lines.push(`  layer ${String(l.layer).padStart(2)} <- KV of layer ${String(l.attendsTo).padStart(2)}${notes ? `   [${notes}]` : ''}`);
  }
  const steps = i.prefillPlan.map((s) => `${s.cyclic ? 'iterate' : 'run'} ${s.begin}..${s.end - 1}`).join(', then ');
  lines.push(`prefill           ${steps}`);
  lines.push(
    `KV cache          ${i.cachedLayers.length} of ${i.layerPlan.length} layers cached (${i.cachedLayers.join(', ')}): ` +
      `${i.kvBytesPerToken} bytes/token (${i.kvDtype}) vs ${i.kvBytesPerTokenStandard} for a standard transformer ` +
      `(${(i.kvBytesPerTokenStandard / i.kvBytesPerToken).toFixed(2)}x less)`,
  );
  return lines.join('\n') + '\n';
}
