// Output files are written atomically: to a temporary file beside the
// target, then renamed, so a reader never sees half a report.

import type { RunResult } from '../report/result.ts';
import { accessSync, constants, lstatSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync, unlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from '../report/errors.ts';

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

/**
 * Write a report. A regular file (or a new one) is replaced atomically; a
 * symlink is followed and its target replaced; a device or FIFO given as the
 * output (/dev/null, /dev/stdout, a pipe) is written to, never replaced.
 */
export function writeAtomic(file: string, content: string): void {
  let path = file;
  try {
    const st = lstatSync(file);
    if (st.isSymbolicLink()) path = realpathSync(file);
    const target = st.isSymbolicLink() ? statSync(path) : st;
    if (!target.isFile() && !target.isDirectory()) {
      writeFileSync(path, content);
      return;
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
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

/**
 * Write an output file after the report was printed; a failure is one line
 * on stderr (the findings are already on stdout) and false.
 */
export function writeOutput(path: string, content: string, flag: string): boolean {
  try {
    writeAtomic(path, content);
    return true;
  } catch (e) {
    process.stderr.write(`percpu-stress: ${flag}: cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
    return false;
  }
}

/** Two output options naming the same file would overwrite each other. */
export function distinctOutputs(outs: Record<string, string | undefined>): void {
  const seen = new Map<string, string>();
  for (const [flag, path] of Object.entries(outs)) {
    if (path === undefined) continue;
    const other = seen.get(path);
    if (other) throw new UsageError(`${other} and ${flag} name the same file (${path})`);
    seen.set(path, flag);
  }
}

/** A directory that output files will be written into: exists and is writable, or a one-line usage error. */
export function checkDir(dir: string, flag: string): string {
  const path = resolve(dir);
  try {
    if (!statSync(path).isDirectory()) throw new Error('not a directory');
    accessSync(path, constants.W_OK);
  } catch {
    throw new UsageError(`${flag}: ${path} is not a writable directory`);
  }
  return path;
}

/** A run's lockdep exports into `dir` (graphviz DOT, /proc/lockdep, /proc/lockdep_chains); false after one line on stderr if one failed. */
export function writeLockdepExports(dir: string, r: RunResult): boolean {
  const x = r.lockdepExport;
  if (!x) return true;
  const base = `${dir}/${r.scenario}-seed${r.seed}`;
  return writeOutput(`${base}.lockdep.dot`, x.dot, '--lockdep-out') && writeOutput(`${base}.lockdep`, x.proc, '--lockdep-out') &&
    writeOutput(`${base}.lockdep_chains`, x.chains, '--lockdep-out');
}

/** Read and parse a JSON file; `fail` turns a one-line reason into the caller's own error. */
export function readJsonFile(file: string, fail: (why: string) => Error): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw fail(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw fail(`${file}: not valid JSON`);
  }
}
