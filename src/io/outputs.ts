// Output files: every one resolved up front (links followed, dangling ones
// included, nothing created), two of them on one file refused by identity,
// and after the report every one attempted, each failure one line.

import { accessSync, constants, lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError } from '../report/errors.ts';
import { writeAtomic } from './files.ts';

export interface Target {
  flag: string;
  /** As the user gave it (what messages show). */
  given: string;
  /** Where the bytes go: every link followed. */
  path: string;
  /** The file's identity: device and inode when it exists, else its resolved path. */
  id: string;
}

const code = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/**
 * Resolve an output path without creating anything: a symlink (dangling or
 * not, chains included) is followed to the file it names, and that file's
 * directory must exist and be writable; a directory is refused.
 */
export function resolveOutput(given: string, flag: string): Target {
  let path = resolve(given);
  for (let hops = 0; ; hops++) {
    if (hops > 40) throw new UsageError(`${flag}: ${given}: too many levels of symbolic links`);
    let st;
    try {
      st = lstatSync(path);
    } catch (e) {
      if (code(e) !== 'ENOENT' && code(e) !== 'ENOTDIR') throw new UsageError(`${flag}: cannot write ${given}: ${code(e)}`);
      break;
    }
    if (st.isSymbolicLink()) {
      path = resolve(dirname(path), readlinkSync(path));
      continue;
    }
    if (st.isDirectory()) throw new UsageError(`${flag}: ${given} is a directory`);
    const real = realpathSync(path);
    try {
      // a regular file is replaced through its directory; a device or a FIFO is written to
      accessSync(st.isFile() ? dirname(real) : real, constants.W_OK);
    } catch {
      throw new UsageError(`${flag}: cannot write ${given}${real !== resolve(given) ? ` (${real})` : ''}: permission denied`);
    }
    return { flag, given, path: real, id: `${st.dev}:${st.ino}` };
  }
  // a file still to be made: its directory decides
  const dir = dirname(path);
  let realDir: string;
  try {
    realDir = realpathSync(dir);
    if (!statSync(realDir).isDirectory()) throw new Error('ENOTDIR');
    accessSync(realDir, constants.W_OK);
  } catch {
    throw new UsageError(`${flag}: cannot write to ${dir}${path !== resolve(given) ? ` (where ${given} points)` : ''}: no such writable directory`);
  }
  const real = join(realDir, basename(path));
  return { flag, given, path: real, id: real };
}

/** A directory outputs go into: exists (links followed) and is writable. */
export function resolveDir(given: string, flag: string): string {
  try {
    const real = realpathSync(resolve(given));
    if (!statSync(real).isDirectory()) throw new Error('not a directory');
    accessSync(real, constants.W_OK);
    return real;
  } catch {
    throw new UsageError(`${flag}: ${given} is not a writable directory`);
  }
}

/** A command's output files. */
export class Outputs {
  private readonly targets = new Map<string, Target>();

  /** Resolve one output option (undefined: not given); two options on one file are refused. */
  add(flag: string, given: string | undefined): Target | undefined {
    if (given === undefined) return undefined;
    const t = resolveOutput(given, flag);
    for (const o of this.targets.values()) {
      if (o.id === t.id) throw new UsageError(`${o.flag} and ${flag} name the same file (${t.path}): one report would overwrite the other`);
    }
    this.targets.set(flag, t);
    return t;
  }

  /**
   * Write every output whose content is given, each atomically; a failure is
   * one line on stderr and the others are still written. True if all were.
   */
  writeAll(contents: readonly (readonly [Target | undefined, () => string | null])[]): boolean {
    let ok = true;
    for (const [t, content] of contents) {
      if (!t) continue;
      const text = content();
      if (text === null) continue;
      ok = writeTarget(t, text) && ok;
    }
    return ok;
  }
}

/** Write one output; false after one line on stderr. */
export function writeTarget(t: Target, text: string): boolean {
  try {
    writeAtomic(t.path, text);
    return true;
  } catch (e) {
    process.stderr.write(`percpu-stress: ${t.flag}: cannot write ${t.given}: ${code(e)}\n`);
    return false;
  }
}

/** Write a set of files into a directory: one stderr line for the flag however many fail. */
export function writeFilesInto(dir: string, flag: string, files: readonly (readonly [string, string])[]): boolean {
  let failed = 0;
  let why = '';
  for (const [name, text] of files) {
    try {
      writeAtomic(join(dir, name), text);
    } catch (e) {
      failed++;
      why ||= code(e);
    }
  }
  if (failed) process.stderr.write(`percpu-stress: ${flag}: cannot write ${failed} of ${files.length} files in ${dir}: ${why}\n`);
  return failed === 0;
}
