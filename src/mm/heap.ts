// The emulated kernel heap (kmalloc/kzalloc/vmalloc share one arena here):
// power-of-two size classes carved from a bump arena, each with a FIFO free
// list so that a freed object is reused as late as possible (a poor man's
// KASAN quarantine). Freed payloads are filled with POISON_FREE and checked
// for writes when they are handed out again.
//
// These are the raw operations: no lockdep, no sleeping, no failure
// injection. The per-CPU context wraps them into the kernel's API.

import type { Shm } from '../shm/layout.ts';
import { MM, HEAP_ALLOC, HEAP_CLASSES, HEAP_FREE, HO, MAX_BOOT_OBJS, POISON_FREE } from './records.ts';
import { rawLock, rawUnlock } from '../sync/raw.ts';

/** What a heap object is, recorded in its header for reports and checks. */
export enum Tag {
  CHUNK = 1,
  MAP = 2,
  TEMP_PAGES = 3,
  TEMP_BITMAP = 4,
  TEST = 5,
}

export const TAG_NAMES: Record<number, string> = {
  [Tag.CHUNK]: 'pcpu_chunk',
  [Tag.MAP]: 'area map',
  [Tag.TEMP_PAGES]: 'temp pages array',
  [Tag.TEMP_BITMAP]: 'temp populated bitmap',
  [Tag.TEST]: 'test object',
};

export function sizeClass(bytes: number): number {
  return bytes <= 16 ? 0 : 32 - Math.clz32(bytes - 1) - 4;
}

/** Reset the heap. The arena itself needs no clearing: allocation zeroes what it hands out. */
export function heapInit(shm: Shm): void {
  const { w, L } = shm;
  w.fill(0, L.heap, L.heapArena);
  w[L.mm + MM.HEAP_TOP] = L.heapArena;
  w[L.mm + MM.HEAP_LIVE_OBJS] = 0;
  w[L.mm + MM.HEAP_LIVE_BYTES] = 0;
}

export const HEAP_EXHAUSTED = 0;
export const HEAP_POISON_BROKEN = -1;

/**
 * Allocate `bytes` zeroed bytes and return the payload's word index p, 0
 * when the arena is exhausted, or -p when the reused object's poison had
 * been written after it was freed (it is handed out all the same, as the
 * kernel does after printing "Poison overwritten"). `frames` and `who`
 * record the allocator (HO.ALLOC_FRAMES, HO.ALLOC_WHO).
 */
export function heapAlloc(shm: Shm, bytes: number, tag: Tag, frames = 0, who = 0): number {
  const { w, L } = shm;
  const cls = sizeClass(bytes);
  if (cls >= HEAP_CLASSES) return HEAP_EXHAUSTED;
  const words = (16 << cls) >> 2;
  const lockAt = L.mm + MM.HEAP_LOCK;
  rawLock(w, lockAt);
  const headAt = L.heapClasses + cls * 2;
  let obj = w[headAt]!;
  let broken = false;
  if (obj !== 0) {
    const next = w[obj + HO.TAG_OR_NEXT]!;
    w[headAt] = next;
    if (next === 0) w[headAt + 1] = 0;
    const p = obj + HO.SIZE;
    for (let i = 0; i < words; i++) {
      if (w[p + i] !== POISON_FREE) {
        broken = true;
        break;
      }
    }
  } else {
    const top = w[L.mm + MM.HEAP_TOP]!;
    if (top + HO.SIZE + words > L.heapArena + L.heapWords) {
      rawUnlock(w, lockAt);
      return HEAP_EXHAUSTED;
    }
    obj = top;
    w[L.mm + MM.HEAP_TOP] = top + HO.SIZE + words;
  }
  w[obj + HO.STATE] = HEAP_ALLOC;
  w[obj + HO.CLASS] = cls;
  w[obj + HO.BYTES] = bytes;
  w[obj + HO.TAG_OR_NEXT] = tag;
  w[obj + HO.ALLOC_FRAMES] = frames;
  w[obj + HO.ALLOC_WHO] = who;
  w[obj + HO.FREE_FRAMES] = 0;
  w[obj + HO.FREE_WHO] = 0;
  w[L.mm + MM.HEAP_LIVE_OBJS]!++;
  w[L.mm + MM.HEAP_LIVE_BYTES] = w[L.mm + MM.HEAP_LIVE_BYTES]! + bytes;
  rawUnlock(w, lockAt);
  const p = obj + HO.SIZE;
  w.fill(0, p, p + words);
  return broken ? -p : p;
}

export const FREE_OK = 0;
export const FREE_DOUBLE = 1;
export const FREE_INVALID = 2;

/** Free a payload pointer: poison it and queue it at the tail of its class; `frames` and `who` record the freer. */
export function heapFree(shm: Shm, p: number, frames = 0, who = 0): number {
  const { w, L } = shm;
  const obj = p - HO.SIZE;
  if (obj < L.heapArena || obj >= L.heapArena + L.heapWords) return FREE_INVALID;
  const lockAt = L.mm + MM.HEAP_LOCK;
  rawLock(w, lockAt);
  const state = w[obj + HO.STATE];
  if (state !== HEAP_ALLOC) {
    rawUnlock(w, lockAt);
    return state === HEAP_FREE ? FREE_DOUBLE : FREE_INVALID;
  }
  const cls = w[obj + HO.CLASS]!;
  const words = (16 << cls) >> 2;
  w[L.mm + MM.HEAP_LIVE_OBJS]!--;
  w[L.mm + MM.HEAP_LIVE_BYTES] = w[L.mm + MM.HEAP_LIVE_BYTES]! - w[obj + HO.BYTES]!;
  // the record is dead before the count moves: a reader that sees the count unchanged saw it alive
  w[obj + HO.STATE] = HEAP_FREE;
  w[obj + HO.FREE_FRAMES] = frames;
  w[obj + HO.FREE_WHO] = who;
  Atomics.add(w, L.mm + MM.HEAP_FREES, 1);
  w[obj + HO.TAG_OR_NEXT] = 0;
  w.fill(POISON_FREE, p, p + words);
  const headAt = L.heapClasses + cls * 2;
  const tail = w[headAt + 1]!;
  if (tail === 0) w[headAt] = obj;
  else w[tail + HO.TAG_OR_NEXT] = obj;
  w[headAt + 1] = obj;
  rawUnlock(w, lockAt);
  return FREE_OK;
}

/** Is `p` the payload of a live heap object with this tag? */
export function heapLive(shm: Shm, p: number, tag: Tag): boolean {
  const obj = p - HO.SIZE;
  const { w, L } = shm;
  if (obj < L.heapArena || obj >= L.heapArena + L.heapWords) return false;
  return w[obj + HO.STATE] === HEAP_ALLOC && w[obj + HO.TAG_OR_NEXT] === tag;
}

/** Is `p` the payload of a live heap object, of any tag? */
export function heapLiveAny(shm: Shm, p: number): boolean {
  const obj = p - HO.SIZE;
  const { w, L } = shm;
  if (obj < L.heapArena || obj >= L.heapArena + L.heapWords) return false;
  return w[obj + HO.STATE] === HEAP_ALLOC;
}

/** Was `p` a heap object that has been freed? (for use-after-free reports) */
export function heapFreed(shm: Shm, p: number): boolean {
  const obj = p - HO.SIZE;
  const { w, L } = shm;
  if (obj < L.heapArena || obj >= L.heapArena + L.heapWords) return false;
  return w[obj + HO.STATE] === HEAP_FREE;
}

export function heapInArena(shm: Shm, p: number): boolean {
  return p - HO.SIZE >= shm.L.heapArena && p < shm.L.heapArena + shm.L.heapWords;
}

/** Words available in the payload of a live object (its size class). */
export function heapPayloadWords(shm: Shm, p: number): number {
  return (16 << shm.w[p - HO.SIZE + HO.CLASS]!) >> 2;
}

/** The live objects by what they are ("pcpu_chunk": 2, ...), walking the arena (reports, at quiescence). */
export function heapLiveByTag(shm: Shm): Record<string, number> {
  const { w, L } = shm;
  const out: Record<string, number> = {};
  const top = w[L.mm + MM.HEAP_TOP]!;
  for (let obj = L.heapArena; obj < top; obj += HO.SIZE + ((16 << w[obj + HO.CLASS]!) >> 2)) {
    if (w[obj + HO.STATE] !== HEAP_ALLOC) continue;
    const name = TAG_NAMES[w[obj + HO.TAG_OR_NEXT]!] ?? 'object';
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

/**
 * The heap object whose header or payload holds word `p` (the object's
 * header word index), or -1: objects lie back to back from the start of the
 * arena, so the walk is exact. For reports only (it walks the arena).
 */
export function heapObjectAt(shm: Shm, p: number): number {
  const { w, L } = shm;
  const top = w[L.mm + MM.HEAP_TOP]!;
  if (p < L.heapArena || p >= top) return -1;
  for (let obj = L.heapArena; obj < top; ) {
    const cls = w[obj + HO.CLASS]!;
    const state = w[obj + HO.STATE];
    if ((state !== HEAP_ALLOC && state !== HEAP_FREE) || cls < 0 || cls >= HEAP_CLASSES) return -1; // a header overwritten: no walk past it
    const next = obj + HO.SIZE + ((16 << cls) >> 2);
    if (p < next) return obj;
    obj = next;
  }
  return -1;
}

/** Is `p` the payload of a heap object (live or freed) whose header is intact? */
export function heapObjectStart(shm: Shm, p: number): boolean {
  const { w, L } = shm;
  const obj = p - HO.SIZE;
  if (obj < L.heapArena || obj >= w[L.mm + MM.HEAP_TOP]!) return false;
  const state = w[obj + HO.STATE], cls = w[obj + HO.CLASS]!;
  return (state === HEAP_ALLOC || state === HEAP_FREE) && cls >= 0 && cls < HEAP_CLASSES && w[obj + HO.BYTES]! <= 16 << cls;
}

// ---- bootmem: the first chunk's records and static maps, never freed ----------------

/** Forget every bootmem object (a new boot). */
export function bootmemInit(shm: Shm): void {
  shm.w[shm.L.mm + MM.BOOT_TOP] = shm.L.boot;
  shm.w[shm.L.mm + MM.BOOT_NR] = 0;
}

/** alloc_bootmem: `words` words of the boot region, recorded with their bounds. */
export function bootmemAlloc(shm: Shm, words: number): number {
  const { w, L } = shm;
  const at = w[L.mm + MM.BOOT_TOP]!;
  if (at + words > L.boot + L.bootWords) throw new RangeError('bootmem region exhausted');
  w[L.mm + MM.BOOT_TOP] = at + words;
  const n = w[L.mm + MM.BOOT_NR]!;
  if (n >= MAX_BOOT_OBJS) throw new RangeError('bootmem object table full');
  w[L.mm + MM.BOOT_TABLE + 2 * n] = at;
  w[L.mm + MM.BOOT_TABLE + 2 * n + 1] = words;
  w[L.mm + MM.BOOT_NR] = n + 1;
  return at;
}

/** The words of the bootmem object starting at `p`, or -1 when none starts there. */
export function bootmemWords(shm: Shm, p: number): number {
  const { w, L } = shm;
  for (let i = 0, n = w[L.mm + MM.BOOT_NR]!; i < n; i++) if (w[L.mm + MM.BOOT_TABLE + 2 * i] === p) return w[L.mm + MM.BOOT_TABLE + 2 * i + 1]!;
  return -1;
}

export function heapStats(shm: Shm): { objects: number; bytes: number } {
  const { w, L } = shm;
  return { objects: w[L.mm + MM.HEAP_LIVE_OBJS]!, bytes: w[L.mm + MM.HEAP_LIVE_BYTES]! };
}
