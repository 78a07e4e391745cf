// Output files are written atomically: to a temporary file beside the
// target, then renamed, so a reader never sees half a report.

import { accessSync, constants, renameSync, statSync, writeFileSync, unlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from './errors.ts';

/** Refuse an output path up front (before a run) if it cannot be written. */
export function checkWritable(file: string, flag: string): string {
  const path = resolve(file);
  const dir = dirname(path);
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UsageError(`${flag}: cannot write to ${dir}`);
  }
  try {
    if (statSync(path).isDirectory()) throw new UsageError(`${flag}: ${path} is a directory`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
  }
  return path;
}

export function writeAtomic(path: string, content: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, content);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was written
    }
    throw e;
  }
}
