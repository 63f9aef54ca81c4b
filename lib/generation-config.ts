import * as path from 'node:path';
import type { ParsedConfig } from './config';
import { LckvError } from './errors';
import { readJsonObject } from './files';
import { SAMPLING_RANGES, outOfRange, type SamplingSetting } from './options';

/** Each setting's generation_config.json field, and generate's default where the file sets none. */
const SETTINGS: Record<SamplingSetting, { field: string; fallback: number }> = {
  maxTokens: { field: 'max_new_tokens', fallback: 256 },
  temperature: { field: 'temperature', fallback: 0.8 },
  topK: { field: 'top_k', fallback: 40 },
  topP: { field: 'top_p', fallback: 0.95 },
  minP: { field: 'min_p', fallback: 0.05 },
  repetitionPenalty: { field: 'repetition_penalty', fallback: 1 },
};

/**
 * The checkpoint's sampling defaults from generation_config.json, held to the ranges the
 * options have (INVALID_CONFIG names a field out of range; null counts as unset). Its
 * eos_token_id entries join parsed.eosTokenIds.
 */
export async function readGenerationDefaults(dir: string, parsed: ParsedConfig): Promise<Record<SamplingSetting, number>> {
  const fields = (await readJsonObject(path.join(dir, 'generation_config.json'), 'INVALID_CONFIG')) ?? {};
  const eos = fields.eos_token_id;
  for (const id of Array.isArray(eos) ? eos : [eos])
    if (Number.isSafeInteger(id) && !parsed.eosTokenIds.includes(id as number)) parsed.eosTokenIds.push(id as number);
  const out = {} as Record<SamplingSetting, number>;
  for (const [name, { field, fallback }] of Object.entries(SETTINGS) as [SamplingSetting, { field: string; fallback: number }][]) {
    const v = fields[field] ?? fallback;  // null counts as unset
    const why = outOfRange(field, v, SAMPLING_RANGES[name]);
    if (why) throw new LckvError('INVALID_CONFIG', `generation_config.json: ${why}`);
    out[name] = v as number;
  }
  if (fields.do_sample === false) out.temperature = 0;
  return out;
}
