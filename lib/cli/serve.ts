import * as path from 'node:path';
import { createServer, SERVER_DEFAULTS } from '../server';
import { CliFailure, MODEL_FLAGS, MODEL_USAGE, UsageError, bytesFlag, modelArgs, numberFlag, openModel, parse, type Command } from './common';

export const serve: Command = {
  name: 'serve',
  synopsis: 'serve [--model DIR] [--host H] [--port P]',
  summary: 'OpenAI-compatible HTTP server',
  usage: `Usage: lckv serve [--model DIR] [--host 127.0.0.1] [--port 8080] [options]

Serves the model over HTTP with OpenAI's API: GET /v1/models, POST /v1/completions,
POST /v1/chat/completions (both with "stream": true), and GET /health. Listens on the
loopback address unless told otherwise. Ctrl-C (SIGINT) or SIGTERM stops it.

Options:
${MODEL_USAGE}
  --host H                    address to listen on (default 127.0.0.1)
  --port P                    port, 0 = any free one (default 8080)
  --api-key KEY               require "Authorization: Bearer KEY" on /v1/* (default: the
                              LCKV_API_KEY environment variable, else no key)
  --max-body BYTES            largest request body, e.g. 65536 or 1m (default 1m)
  --max-queue N               most generation requests in progress at once, running or
                              waiting; more get 503 (default ${SERVER_DEFAULTS.maxQueue})
  --model-id NAME             the model's name in /v1/models (default: the directory's name)
  --quiet                     no access log on stderr
  -h, --help                  this help

Example:
  lckv serve --port 8080 &
  curl http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{"model":"lckv-sotu","messages":[{"role":"user","content":"Hello"}],"max_tokens":32}'`,

  async run(args) {
    const { values, positionals } = parse(args, {
      ...MODEL_FLAGS,
      host: { type: 'string' },
      port: { type: 'string' },
      'api-key': { type: 'string' },
      'max-body': { type: 'string' },
      'max-queue': { type: 'string' },
      'model-id': { type: 'string' },
      quiet: { type: 'boolean' },
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
    // An IPv6 address may come in brackets, as URLs (and the startup line) write it.
    const host = (values.host ?? '127.0.0.1').replace(/^\[(.*)\]$/, '$1');
    if (host.trim() === '') throw new UsageError('--host needs an address');
    const port = numberFlag('--port', values.port, 0, 65535, true) ?? 8080;
    const apiKey = values['api-key'] ?? (process.env.LCKV_API_KEY || undefined);
    if (apiKey !== undefined && apiKey.length === 0) throw new UsageError('--api-key needs a non-empty key');
    const maxBodyBytes = bytesFlag('--max-body', values['max-body']);
    const maxQueue = numberFlag('--max-queue', values['max-queue'], 1, 1e6, true);
    const modelIdFlag = values['model-id'];
    if (modelIdFlag !== undefined && modelIdFlag.trim() === '') throw new UsageError('--model-id needs a name');
    const load = modelArgs(values);

    const model = await openModel(load);
    const log = (line: string) => process.stderr.write(`lckv serve: ${line}\n`);
    const modelId = modelIdFlag ?? path.basename(load.dir);
    let server: ReturnType<typeof createServer>;
    try {
      // The model's chat template: a checkpoint whose template cannot be parsed fails here.
      server = createServer(model, { modelId, apiKey, maxBodyBytes, maxQueue, log: values.quiet ? undefined : log });
    } catch (err) {
      await model.dispose();
      throw err;
    }

    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      await model.dispose();
      throw new CliFailure(`cannot listen on ${host}:${port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const address = server.address();
    const actualPort = typeof address === 'object' && address ? address.port : port;
    const shownHost = host.includes(':') ? `[${host}]` : host;
    log(`${modelId} at http://${shownHost}:${actualPort}/v1 (${model.chatTemplate.fromCheckpoint ? "the model's chat template" : 'fallback chat template'}; Ctrl-C stops)`);
    if (!apiKey && !['127.0.0.1', 'localhost', '::1'].includes(host))
      log(`warning: listening on ${host} without --api-key; anyone who can reach it can use it`);

    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
        log(`${signal}: stopping`);
        // Closing the connections aborts every generation in progress (their 'close' events).
        server.close(() => resolve());
        server.closeAllConnections();
      };
      const onInt = () => stop('SIGINT');
      const onTerm = () => stop('SIGTERM');
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
    });
    await model.dispose();
  },
};
