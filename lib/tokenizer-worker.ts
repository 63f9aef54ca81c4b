// The worker thread of TokenizerThread: a copy of the model's tokenizer that encodes the
// texts (or renders and encodes the conversations) posted to it, one at a time, and posts
// back their ids.
import { parentPort, workerData } from 'node:worker_threads';
import { LckvError } from './errors';
import { TextTokenizer } from './tokenizer';
import type { EncodeAnswer, EncodeRequest, TokenizerSource } from './tokenizer-thread';

const tokenizer = new TextTokenizer(workerData as TokenizerSource);
const port = parentPort!;

port.on('message', (request: EncodeRequest) => {
  let ids: Int32Array<ArrayBuffer>;
  try {
    ids = Int32Array.from(tokenizer.encodeRequest(request));
  } catch (err) {
    const code = err instanceof LckvError ? err.code : 'INVALID_TOKENIZER';
    port.postMessage({ error: (err as Error).message, code } satisfies EncodeAnswer);
    return;
  }
  port.postMessage({ ids } satisfies EncodeAnswer, [ids.buffer]);
});
