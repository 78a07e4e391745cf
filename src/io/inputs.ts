// Input files, read with limits: a regular file only (a FIFO nobody writes,
// /dev/zero or a directory is refused at once, never waited on), at most a
// size fixed per kind of input, and JSON no deeper than a reader can walk.
// Every refusal is the caller's one-line error. Trace input, which streams,
// is read by lines of bounded length (lines()).

import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';

/** A kind of input: what a message calls it and how large it may be. */
export interface InputKind {
  what: string;
  maxBytes: number;
}

const MB = 1024 * 1024;

// repros hold up to a million ops (~14 MB as written); a shard embeds a repro per finding
export const REPRO: InputKind = { what: 'repro file', maxBytes: 64 * MB };
export const SHARD: InputKind = { what: 'shard file', maxBytes: 256 * MB };
export const SUPPRESSIONS: InputKind = { what: 'suppressions file', maxBytes: 1 * MB };
export const SCENARIO: InputKind = { what: 'scenario file', maxBytes: 4 * MB };
/** A trace streams, whatever its size; one line of it is bounded. */
export const TRACE: InputKind = { what: 'trace', maxBytes: Number.MAX_SAFE_INTEGER };
export const TRACE_LINE_MAX = 64 * 1024;
/** Arrays and objects inside arrays and objects: far more than any file the tool writes (8). */
export const JSON_MAX_DEPTH = 64;

const code = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

export function sizeText(n: number): string {
  return n >= MB ? `${Math.round(n / MB)} MB` : `${Math.round(n / 1024)} KB`;
}

/** What a file that is not a regular file is, for a message. */
export function notRegular(st: Stats): string {
  if (st.isDirectory()) return 'is a directory';
  if (st.isFIFO()) return 'is a FIFO (a named pipe), not a regular file';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'is a device, not a regular file';
  if (st.isSocket()) return 'is a socket, not a regular file';
  return 'is not a regular file';
}

/**
 * Open an input without blocking (O_NONBLOCK: opening a FIFO nobody writes
 * returns at once) and check that it is a regular file of at most `kind`'s
 * size; `fail` makes the caller's one-line error. Returns the descriptor and
 * its stat (the file's identity, dev:ino).
 */
export function openInput(file: string, kind: InputKind, fail: (why: string) => Error): { fd: number; st: Stats } {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    throw fail(`cannot read ${file}: ${code(e)}`);
  }
  let st: Stats;
  try {
    st = fstatSync(fd);
  } catch (e) {
    closeSync(fd);
    throw fail(`cannot read ${file}: ${code(e)}`);
  }
  if (!st.isFile()) {
    closeSync(fd);
    throw fail(`${file} ${notRegular(st)}: a ${kind.what} must be a regular file`);
  }
  if (st.size > kind.maxBytes) {
    closeSync(fd);
    throw fail(`${file} is ${sizeText(st.size)}: a ${kind.what} is at most ${sizeText(kind.maxBytes)}`);
  }
  return { fd, st };
}

/** Read a whole input as text, with openInput's limits (a file that grows past the limit while read is refused too). */
export function readInput(file: string, kind: InputKind, fail: (why: string) => Error): string {
  const { fd } = openInput(file, kind, fail);
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, kind.maxBytes + 1 - total));
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        throw fail(`cannot read ${file}: ${code(e)}`);
      }
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > kind.maxBytes) throw fail(`${file} is larger than ${sizeText(kind.maxBytes)}: a ${kind.what} is at most that`);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** How deeply arrays and objects nest in a parsed JSON value (walked without recursion). */
export function jsonDepth(v: unknown, stopAt = Infinity): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (typeof x !== 'object' || x === null) continue;
    if (d + 1 > deepest) {
      deepest = d + 1;
      if (deepest > stopAt) return deepest;
    }
    for (const y of Array.isArray(x) ? x : Object.values(x)) if (typeof y === 'object' && y !== null) stack.push([y, d + 1]);
  }
  return deepest;
}

/** Read and parse a JSON input: regular, at most its size, valid, at most JSON_MAX_DEPTH deep. */
export function readJsonInput(file: string, kind: InputKind, fail: (why: string) => Error): unknown {
  const text = readInput(file, kind, fail);
  let data: unknown;
  try {
    data = JSON.parse(text) as unknown;
  } catch {
    throw fail(`${file}: not valid JSON`);
  }
  if (jsonDepth(data, JSON_MAX_DEPTH) > JSON_MAX_DEPTH) throw fail(`${file}: arrays and objects nested more than ${JSON_MAX_DEPTH} deep: not a ${kind.what}`);
  return data;
}

/**
 * The lines of a stream, each at most `max` bytes (a longer one is the
 * caller's error, `tooLong(lineNo)`): never a string larger than that,
 * whatever the input (a 1 GB file without a newline, /dev/zero on stdin).
 */
export async function* lines(input: AsyncIterable<Buffer | string>, max: number, tooLong: (lineNo: number) => Error): AsyncGenerator<string> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let lineNo = 0;
  const take = (tail: Buffer): string => {
    const all = pending.length ? Buffer.concat([...pending, tail]) : tail;
    pending = [];
    pendingBytes = 0;
    let s = all.toString('utf8');
    if (s.endsWith('\r')) s = s.slice(0, -1);
    return s;
  };
  for await (const chunk of input) {
    let b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    for (;;) {
      const nl = b.indexOf(10);
      if (nl < 0) break;
      if (pendingBytes + nl > max) throw tooLong(lineNo + 1);
      lineNo++;
      yield take(b.subarray(0, nl));
      b = b.subarray(nl + 1);
    }
    if (b.length) {
      if (pendingBytes + b.length > max) throw tooLong(lineNo + 1);
      pending.push(Buffer.from(b));
      pendingBytes += b.length;
    }
  }
  if (pendingBytes) yield take(Buffer.alloc(0));
}
