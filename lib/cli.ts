#!/usr/bin/env node
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LckvError } from './errors';
import { DEFAULT_MODEL_DIR } from './model';
import { bench } from './cli/bench';
import { chat } from './cli/chat';
import { CliFailure, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, wantsHelp, type Command } from './cli/common';
import { generate } from './cli/generate';
import { info } from './cli/info';
import { perplexity } from './cli/perplexity';
import { serve } from './cli/serve';

const COMMANDS: Command[] = [generate, chat, info, perplexity, serve, bench];

const SYNOPSIS_WIDTH = Math.max(...COMMANDS.map((c) => c.synopsis.length));

function mainUsage(): string {
  return `Usage: lckv <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.synopsis.padEnd(SYNOPSIS_WIDTH)}   ${c.summary}`).join('\n')}

Run 'lckv <command> --help' for the options of a command.
Without --model the bundled model (${DEFAULT_MODEL_DIR}) is used.
Exit codes: 0 success, 1 runtime failure, 2 usage error.`;
}

function version(): string {
  try {
    return JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

/** Runs `lckv` with these arguments; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    console.error(mainUsage());
    return EXIT_USAGE;
  }
  if (name === '--help' || name === '-h') {
    console.log(mainUsage());
    return EXIT_OK;
  }
  if (name === '--version' || name === '-v') {
    console.log(version());
    return EXIT_OK;
  }
  if (name === 'help') {
    const target = rest[0] === undefined ? undefined : COMMANDS.find((c) => c.name === rest[0]);
    if (rest[0] !== undefined && !target) {
      console.error(`lckv: unknown command '${rest[0]}'\n\n${mainUsage()}`);
      return EXIT_USAGE;
    }
    console.log(target ? target.usage : mainUsage());
    return EXIT_OK;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    console.error(`lckv: unknown command '${name}'\n\n${mainUsage()}`);
    return EXIT_USAGE;
  }
  if (wantsHelp(rest)) {
    console.log(command.usage);
    return EXIT_OK;
  }
  try {
    return (await command.run(rest)) ?? EXIT_OK;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`lckv ${name}: ${err.message}\nRun 'lckv ${name} --help' for usage.`);
      return EXIT_USAGE;
    }
    if (err instanceof CliFailure) {
      console.error(`lckv ${name}: ${err.message}`);
      return EXIT_FAILURE;
    }
    if (err instanceof LckvError) {
      console.error(`lckv ${name}: ${err.message} [${err.code}]`);
      return err.code === 'INVALID_ARGUMENT' ? EXIT_USAGE : EXIT_FAILURE;
    }
    console.error(`lckv ${name}: unexpected error`, err);
    return EXIT_FAILURE;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(err);
      process.exitCode = EXIT_FAILURE;
    },
  );
}
