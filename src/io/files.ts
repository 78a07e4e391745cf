// Output files are written atomically: to a temporary file beside the
// target, then renamed, so a reader never sees half a report; a folder
// missing on the way is made.

import type { RunResult } from '../report/result.ts';
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, realpathSync, renameSync, statSync, writeFileSync, writeSync, unlinkSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';

/** Where the bytes for `file` go, and whether it is replaced (a regular or new file) or written to (a device, a FIFO). */
function destination(file: string): { path: string; replace: boolean } {
  // a device, a FIFO or a socket, however it is reached (/dev/stdout's link names no file when it is a pipe)
  const st0 = statOrNull(file);
  if (st0 && !st0.isFile() && !st0.isDirectory()) return { path: file, replace: false };
  try {
    const st = lstatSync(file);
    const path = st.isSymbolicLink() ? realpathSync(file) : file;
    const target = st.isSymbolicLink() ? statSync(path) : st;
    return { path, replace: target.isFile() || target.isDirectory() };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    return { path: file, replace: true };
  }
}

/** A path's stat, links followed, or null when there is nothing there (ENOENT, ENOTDIR, ELOOP...). */
export function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

function fdStat(fd: number): Stats | null {
  try {
    return fstatSync(fd);
  } catch {
    return null;
  }
}

function tmpOf(path: string): string {
  return `${path}.tmp-${process.pid}`;
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // nothing was written
  }
}

/** Write to the temporary file beside `path` (its folder made if missing); the temporary's path. */
function writeTmp(path: string, content: string): string {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tmpOf(path);
  try {
    writeFileSync(tmp, content);
  } catch (e) {
    unlinkQuietly(tmp);
    throw e;
  }
  return tmp;
}

/**
 * Write a report. A regular file (or a new one) is replaced atomically; a
 * symlink is followed and its target replaced; a device or FIFO given as the
 * output (/dev/null, /dev/stdout, a pipe) is written to, never replaced.
 */
export function writeAtomic(file: string, content: string): void {
  // this process's own stdout or stderr (/dev/stdout: a pipe or a socket cannot be opened again by
  // name, and a file it is redirected to must not be replaced under it): through the stream, in
  // order after what the command printed
  const st = statOrNull(file);
  const stream = st && [process.stdout, process.stderr].find((x, i) => {
    const own = fdStat(i + 1);
    return own !== null && own.dev === st.dev && own.ino === st.ino && x.writable;
  });
  if (stream) {
    stream.write(content);
    return;
  }
  const { path, replace } = destination(file);
  if (!replace) {
    if (statSync(path).isFIFO()) writeFifo(path, content);
    else writeFileSync(path, content);
    return;
  }
  const tmp = writeTmp(path, content);
  try {
    renameSync(tmp, path);
  } catch (e) {
    unlinkQuietly(tmp);
    throw e;
  }
}

/**
 * Write to a FIFO: opened without waiting, so that one nobody reads is an
 * error (ENXIO) rather than an open that never returns; a full pipe is
 * written again a moment later, as long as its reader is there (EPIPE when
 * it has gone).
 */
function writeFifo(path: string, content: string): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  try {
    const buf = Buffer.from(content);
    for (let off = 0; off < buf.length;) {
      try {
        off += writeSync(fd, buf, off);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
        Atomics.wait(pause, 0, 0, 5);
      }
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Write several files, all or none: every one goes to its temporary file
 * first, and only when all are written are they renamed into place. The
 * first failure (its file and error code), or null.
 */
export function writeAllAtomic(files: readonly (readonly [string, string])[]): { name: string; code: string } | null {
  const done: [string, string][] = [];
  const fail = (name: string, e: unknown): { name: string; code: string } => {
    for (const [tmp] of done) unlinkQuietly(tmp);
    return { name, code: (e as NodeJS.ErrnoException).code ?? (e as Error).message };
  };
  for (const [file, content] of files) {
    try {
      const { path, replace } = destination(file);
      if (!replace) throw new Error('not a regular file');
      if (statOrNull(path)?.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      done.push([writeTmp(path, content), path]);
    } catch (e) {
      return fail(file, e);
    }
  }
  for (const [tmp, path] of done) {
    try {
      renameSync(tmp, path);
    } catch (e) {
      return fail(path, e);
    }
  }
  return null;
}

/** A run's lockdep exports (graphviz DOT, /proc/lockdep, /proc/lockdep_chains) as [file name, text] pairs. */
export function lockdepFiles(r: RunResult): [string, string][] {
  const x = r.lockdepExport;
  if (!x) return [];
  const [dot, proc, chains] = lockdepNames(r.scenario, r.seed);
  return [[dot, x.dot], [proc, x.proc], [chains, x.chains]];
}

/** The names of the lockdep files of a run of `scenario` with `seed`. */
export function lockdepNames(scenario: string, seed: number): [string, string, string] {
  const base = `${scenario}-seed${seed}`;
  return [`${base}.lockdep.dot`, `${base}.lockdep`, `${base}.lockdep_chains`];
}
