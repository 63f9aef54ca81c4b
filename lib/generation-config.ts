import * as path from 'node:path';
import type { ParsedConfig } from './config';
import { LckvError } from './errors';
import { readJsonObject } from './files';
import { SAMPLING_RANGES, outOfRange, type SamplingSetting } from './options';

/** generate's defaults where generation_config.json sets none (or the file is absent). */
const FALLBACKS: Record<SamplingSetting, number> = {
  maxTokens: 256,
  temperature: 0.8,
  topK: 40,
  topP: 0.95,
  minP: 0.05,
  repetitionPenalty: 1,
};

/** The generation_config.json field behind each setting. */
const FIELDS: Record<SamplingSetting, string> = {
  maxTokens: 'max_new_tokens',
  temperature: 'temperature',
  topK: 'top_k',
  topP: 'top_p',
  minP: 'min_p',
  repetitionPenalty: 'repetition_penalty',
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
  const out = { ...FALLBACKS };
  for (const name of Object.keys(FALLBACKS) as SamplingSetting[]) {
    const v = fields[FIELDS[name]];
    if (v === undefined || v === null) continue;
    const why = outOfRange(FIELDS[name], v, SAMPLING_RANGES[name]);
    if (why) throw new LckvError('INVALID_CONFIG', `generation_config.json: ${why}`);
    out[name] = v as number;
  }
  if (fields.do_sample === false) out.temperature = 0;
  return out;
}
