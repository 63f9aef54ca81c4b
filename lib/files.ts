import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { LckvError, type LckvErrorCode } from './errors';
import { describe } from './options';

/**
 * Opens a regular file for reading, or returns undefined when nothing is at that path.
 * Anything else there (a directory, a FIFO, a device) is FILE_READ_FAILED. The open does
 * not block, so a FIFO in a checkpoint directory cannot stall a load, nor the libuv thread
 * a blocked open would hold.
 */
export async function openRegularFile(file: string): Promise<fs.FileHandle | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new LckvError('FILE_READ_FAILED', `cannot open ${file}: ${(err as Error).message}`, { cause: err });
  }
  const stat = await handle.stat().catch(() => undefined);
  if (stat?.isFile()) return handle;
  await handle.close();
  throw new LckvError('FILE_READ_FAILED', `${file} is not a regular file`);
}

/** The text of a regular file, or undefined when nothing is at that path (see openRegularFile). */
export async function readTextFile(file: string): Promise<string | undefined> {
  const handle = await openRegularFile(file);
  if (!handle) return undefined;
  try {
    return await handle.readFile('utf8');
  } catch (err) {
    throw new LckvError('FILE_READ_FAILED', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  } finally {
    await handle.close();
  }
}

/**
 * A JSON file of the checkpoint that must hold an object (config.json, tokenizer.json, ...),
 * or undefined when it is absent. Text that is not JSON, or JSON that is not an object, is
 * `invalid`; a path that cannot be read is FILE_READ_FAILED (see openRegularFile).
 */
export async function readJsonObject(file: string, invalid: LckvErrorCode): Promise<Record<string, unknown> | undefined> {
  const text = await readTextFile(file);
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new LckvError(invalid, `${path.basename(file)} is not valid JSON`, { cause: err });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new LckvError(invalid, `${path.basename(file)} must hold a JSON object, got ${describe(json)}`);
  return json as Record<string, unknown>;
}
