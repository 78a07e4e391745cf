// Output files: every one resolved up front (links followed, dangling ones
// included, nothing created yet) and compared by identity with every input
// of the command and every other output, the files an output folder will
// receive included (the lockdep files by name, repro files by their name
// pattern), so that no output ever replaces an input or another output.
// After the report every output is attempted, each failure one line; a
// missing folder is created when the first file goes into it.

import { accessSync, constants, lstatSync, mkdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError, oneLine } from '../report/errors.ts';
import { statOrNull, writeAllAtomic, writeAtomic } from './files.ts';

export interface Target {
  flag: string;
  /** As the user gave it (what messages show). */
  given: string;
  /** Where the bytes go: every link followed. */
  path: string;
  /** The file's identity: device and inode when it exists, else its resolved path. */
  id: string;
}

/** An output folder (--out, --lockdep-out): where it is, every link followed; it may not exist yet. */
export interface DirTarget {
  flag: string;
  given: string;
  path: string;
}

/** The names fuzz and merge give repro files in --out (repro-<12 hex digits>.json). */
export const REPRO_NAME = /^repro-[0-9a-f]{12}\.json$/;

const code = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/**
 * The nearest folder of `dir` (itself or an ancestor) that exists: it must be
 * a writable directory, and the folders below it are made when written to.
 */
function existingAncestor(dir: string, flag: string, shown: string): string {
  let d = dir;
  for (;;) {
    let st;
    try {
      st = statSync(d);
    } catch (e) {
      if (code(e) !== 'ENOENT' && code(e) !== 'ENOTDIR') throw new UsageError(`${flag}: cannot write to ${shown}: ${code(e)}`);
      const up = dirname(d);
      if (up === d) throw new UsageError(`${flag}: cannot write to ${shown}: no such directory`);
      d = up;
      continue;
    }
    if (!st.isDirectory()) throw new UsageError(`${flag}: cannot write to ${shown}: ${d} is not a directory`);
    const real = realpathSync(d);
    try {
      accessSync(real, constants.W_OK);
    } catch {
      throw new UsageError(`${flag}: cannot write to ${shown}: ${real === d ? d : `${d} (${real})`} is not writable`);
    }
    return join(real, dir.slice(d.length));
  }
}

/**
 * Resolve an output path without creating anything: a symlink (dangling or
 * not, chains included) is followed to the file it names, and a link's
 * target folder must exist; a plain path's missing folders will be made. A
 * directory is refused.
 */
export function resolveOutput(given: string, flag: string): Target {
  // a device, a FIFO or a socket (/dev/null, /dev/stdout on a pipe: its link names no file) is written to as it is
  const st0 = statOrNull(given);
  if (st0 && !st0.isFile() && !st0.isDirectory()) return { flag, given, path: resolve(given), id: `${st0.dev}:${st0.ino}` };
  let path = resolve(given);
  let linked = false;
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
      linked = true;
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
  // a file still to be made: its folder decides
  const dir = dirname(path);
  let realDir: string;
  if (linked) {
    try {
      realDir = realpathSync(dir);
      if (!statSync(realDir).isDirectory()) throw new Error('ENOTDIR');
      accessSync(realDir, constants.W_OK);
    } catch {
      throw new UsageError(`${flag}: cannot write to ${dir} (where ${given} points): no such writable directory`);
    }
  } else {
    realDir = existingAncestor(dir, flag, dirname(given));
  }
  const real = join(realDir, basename(path));
  return { flag, given, path: real, id: real };
}

/** A folder outputs go into: a directory (links followed) or one still to be made under a writable one. */
export function resolveDir(given: string, flag: string): DirTarget {
  const abs = resolve(given);
  let st;
  try {
    st = statSync(abs);
  } catch (e) {
    if (code(e) !== 'ENOENT' && code(e) !== 'ENOTDIR') throw new UsageError(`${flag}: cannot write to ${given}: ${code(e)}`);
    return { flag, given, path: existingAncestor(abs, flag, given) };
  }
  if (!st.isDirectory()) throw new UsageError(`${flag}: ${given} is not a directory`);
  const real = realpathSync(abs);
  try {
    accessSync(real, constants.W_OK);
  } catch {
    throw new UsageError(`${flag}: ${given} is not a writable directory`);
  }
  return { flag, given, path: real };
}

interface Input {
  what: string;
  given: string;
  path: string;
  id: string;
}

/** A command's inputs and output files, kept apart. */
export class Outputs {
  private readonly targets = new Map<string, Target>();
  private readonly inputs: Input[] = [];
  /** Files an output folder will receive: by name, or (repros) by name pattern. */
  private readonly planned: Target[] = [];
  private readonly reproDirs: DirTarget[] = [];
  private readonly dirs: DirTarget[] = [];

  /**
   * An input of the command (a scenario file, a repro, a shard, a
   * suppressions file): no output may be it. One that cannot be read is left
   * to its reader's own message.
   */
  input(what: string, given: string): void {
    let st;
    let path;
    try {
      path = realpathSync(given);
      st = statSync(path);
    } catch {
      return;
    }
    const inp = { what, given, path, id: `${st.dev}:${st.ino}` };
    for (const t of [...this.targets.values(), ...this.planned]) this.clash(t, inp);
    for (const d of this.reproDirs) this.reproClash(d, inp.path, `${what} ${given}`);
    this.inputs.push(inp);
  }

  /** Resolve one output option (undefined: not given); an output on an input or on another output is refused. */
  add(flag: string, given: string | undefined): Target | undefined {
    if (given === undefined) return undefined;
    const t = resolveOutput(given, flag);
    this.check(t);
    this.targets.set(flag, t);
    return t;
  }

  /** Were any output files or folders asked for? */
  any(): boolean {
    return this.targets.size > 0 || this.planned.length > 0 || this.reproDirs.length > 0;
  }

  /** An output folder (made, if missing, when the outputs are written). */
  dir(flag: string, given: string): DirTarget {
    const d = resolveDir(given, flag);
    this.dirs.push(d);
    return d;
  }

  /** Files `dir` will receive, by name: each checked like an output option. */
  plan(dir: DirTarget, names: readonly string[]): void {
    for (const name of names) {
      const t = resolveOutput(join(dir.path, name), dir.flag);
      t.given = join(dir.given, name);
      this.check(t);
      this.planned.push(t);
    }
  }

  /** `dir` receives repro files (fuzz, merge): no input or other output may have a repro's name there. */
  repros(dir: DirTarget): void {
    for (const t of [...this.targets.values(), ...this.planned]) this.reproClash(dir, t.path, `${t.flag} ${t.given}`);
    for (const i of this.inputs) this.reproClash(dir, i.path, `${i.what} ${i.given}`);
    this.reproDirs.push(dir);
  }

  private check(t: Target): void {
    for (const o of [...this.targets.values(), ...this.planned]) {
      if (o.id === t.id) {
        const a = o.flag === t.flag ? `${o.given} and ${t.given}` : `${o.flag} and ${t.flag}`;
        throw new UsageError(`${a} name the same file (${t.path}): one output would overwrite the other`);
      }
    }
    for (const i of this.inputs) this.clash(t, i);
    for (const d of this.reproDirs) this.reproClash(d, t.path, `${t.flag} ${t.given}`);
  }

  private clash(t: Target, i: Input): void {
    if (t.id === i.id) throw new UsageError(`${t.flag} ${t.given} is the ${i.what} ${i.given}${i.path !== resolve(i.given) ? ` (${i.path})` : ''}: an output never replaces an input`);
  }

  private reproClash(dir: DirTarget, path: string, who: string): void {
    if (dirname(path) === dir.path && REPRO_NAME.test(basename(path))) {
      throw new UsageError(`${who} has the name of a repro file in ${dir.flag} ${dir.given}: a repro written there could replace it`);
    }
  }

  /**
   * Write every output whose content is given, each atomically; a failure is
   * one line on stderr and the others are still written. True if all were.
   */
  writeAll(contents: readonly (readonly [Target | undefined, () => string | null])[]): boolean {
    let ok = true;
    // the output folders exist afterwards, whether or not a file went into them
    for (const d of this.dirs) {
      try {
        mkdirSync(d.path, { recursive: true });
      } catch (e) {
        process.stderr.write(oneLine(`percpu-stress: ${d.flag}: cannot make ${d.given}: ${code(e)}`));
        ok = false;
      }
    }
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
    process.stderr.write(oneLine(`percpu-stress: ${t.flag}: cannot write ${t.given}: ${code(e)}`));
    return false;
  }
}

/** Write a set of files into a folder, all or none: one stderr line for the flag however many fail. */
export function writeFilesInto(dir: DirTarget, files: readonly (readonly [string, string])[]): boolean {
  const failed = writeAllAtomic(files.map(([name, text]) => [join(dir.path, name), text] as const));
  if (failed === null) return true;
  process.stderr.write(oneLine(`percpu-stress: ${dir.flag}: cannot write ${failed.name.startsWith(dir.path) ? failed.name.slice(dir.path.length + 1) : failed.name} in ${dir.given}: ${failed.code}; none of its ${files.length} files was written`));
  return false;
}
