// Output files are written atomically: to a temporary file beside the
// target, then renamed, so a reader never sees half a report.

import type { RunResult } from '../report/result.ts';
import { lstatSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync, unlinkSync } from 'node:fs';

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

/** A run's lockdep exports (graphviz DOT, /proc/lockdep, /proc/lockdep_chains) as [file name, text] pairs. */
export function lockdepFiles(r: RunResult): [string, string][] {
  const x = r.lockdepExport;
  if (!x) return [];
  const base = `${r.scenario}-seed${r.seed}`;
  return [[`${base}.lockdep.dot`, x.dot], [`${base}.lockdep`, x.proc], [`${base}.lockdep_chains`, x.chains]];
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
