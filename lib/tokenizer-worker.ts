// The worker thread of TokenizerThread: a copy of the model's tokenizer that encodes the
// texts posted to it (one at a time) and posts back their ids.
import { parentPort, workerData } from 'node:worker_threads';
import { TextTokenizer } from './tokenizer';
import type { EncodeAnswer, EncodeRequest, TokenizerSource } from './tokenizer-thread';

const tokenizer = new TextTokenizer(workerData as TokenizerSource);
const port = parentPort!;

port.on('message', ({ text, addSpecialTokens }: EncodeRequest) => {
  let ids: Int32Array<ArrayBuffer>;
  try {
    ids = Int32Array.from(tokenizer.encode(text, addSpecialTokens));
  } catch (err) {
    port.postMessage({ error: (err as Error).message } satisfies EncodeAnswer);
    return;
  }
  port.postMessage({ ids } satisfies EncodeAnswer, [ids.buffer]);
});
