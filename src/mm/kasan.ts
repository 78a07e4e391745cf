// KASAN for the emulated heap: every heap object has bounds (its requested
// size, not its size class: the rest of the class is the redzone), and every
// checked access and bulk copy the allocator makes into a heap or bootmem
// object by index (an area map, the temp pages array and bitmap) is held to
// them. An access outside is reported at the access, before it happens, in
// KASAN's words ("BUG: KASAN: slab-out-of-bounds in f", "Write of size N at
// addr ...", the object, its cache, who allocated it), and is fatal: nothing
// reads the damage. An access to a freed object is a use-after-free only when
// the heap recorded the free (its header says freed, and by whom); a pointer
// that is no object's start is a wild access, named by the object it lands
// in. The callers are the accessors (src/percpu/chunk.ts) on their slow
// path; the fast path is a compare against bounds they cached.

import type { Shm } from '../shm/layout.ts';
import type { CpuCore as Cpu } from '../sync/hooks.ts';
import { packFrames, framesText } from '../sync/frames.ts';
import { HEAP_ALLOC, HEAP_FREE, HO, WHO_IRQ, WHO_VMALLOC } from './records.ts';
import { TAG_NAMES, bootmemWords, heapObjectAt, heapObjectStart } from './heap.ts';

/** Who a heap call is made by, as HO.ALLOC_WHO / HO.FREE_WHO record it. */
export function whoOf(cpu: Cpu, vmalloc: boolean): number {
  return (cpu.id + 1) | (cpu.inIrq() ? WHO_IRQ : 0) | (vmalloc ? WHO_VMALLOC : 0);
}

/** The frames word of the current context (for the heap's records). */
export function framesOf(cpu: Cpu): number {
  return packFrames(cpu.w, cpu.x);
}

function taskName(cpu: Cpu, who: number): string {
  const e = (who & 0xff) - 1;
  const name = e < 0 ? 'the boot code' : e < cpu.host.nrCpus ? `cpu${e}` : 'kworker/0:1';
  return `${name}${who & WHO_IRQ ? ' (hardirq)' : ''}`;
}

function trace(frames: number): string {
  const f = framesText(frames);
  return f.length ? f.map((s) => ` ${s}\n`).join('') : ' (no frames recorded)\n';
}

const hexw = (p: number): string => `w[${p}]`;

/** What the heap knows of the object whose header is at `obj`: its lines of a report, and data. */
function objectLines(cpu: Cpu, shm: Shm, obj: number): { lines: string; vmalloc: boolean; bytes: number; name: string; allocatedBy: string[]; freedBy: string[] } {
  const w = shm.w;
  const p = obj + HO.SIZE;
  const cls = w[obj + HO.CLASS]!, bytes = w[obj + HO.BYTES]!, who = w[obj + HO.ALLOC_WHO]!;
  const freed = w[obj + HO.STATE] === HEAP_FREE;
  const vmalloc = (who & WHO_VMALLOC) !== 0;
  const name = freed ? 'a freed object' : `the ${TAG_NAMES[w[obj + HO.TAG_OR_NEXT]!] ?? 'object'}`;
  // KASAN's order: who allocated (and freed) it, then what it is
  let lines = `Allocated by task ${taskName(cpu, who)}:\n${trace(w[obj + HO.ALLOC_FRAMES]!)}`;
  if (freed) lines += `\nFreed by task ${taskName(cpu, w[obj + HO.FREE_WHO]!)}:\n${trace(w[obj + HO.FREE_FRAMES]!)}`;
  lines += vmalloc
    ? `\nThe buggy address belongs to the virtual mapping at\n [${hexw(p)}, ${hexw(p + (bytes >> 2))}) created by vmalloc (${name}, ${bytes} bytes)\n`
    : `\nThe buggy address belongs to the object at ${hexw(p)}\n which belongs to the cache kmalloc-${16 << cls} of size ${16 << cls} (${name}, ${bytes} bytes requested)\n`;
  return {
    lines, vmalloc, bytes, name, allocatedBy: framesText(w[obj + HO.ALLOC_FRAMES]!),
    freedBy: freed ? framesText(w[obj + HO.FREE_FRAMES]!) : [],
  };
}

function access(cpu: Cpu, at: number, n: number, write: boolean): string {
  return `${write ? 'Write' : 'Read'} of size ${n * 4} at addr ${hexw(at)} by task ${cpu.name}`;
}

/**
 * The bounds, in words, of the object starting at `p` that an access of `n`
 * words at index `i` is about to use: a live heap object's requested size,
 * or a bootmem object's. A freed object (the heap recorded the free) is a
 * use-after-free, anything else a wild access: both reported, fatally.
 */
export function objectWords(cpu: Cpu, shm: Shm, p: number, i: number, n: number, write: boolean): number {
  const w = shm.w;
  if (heapObjectStart(shm, p)) {
    const obj = p - HO.SIZE;
    if (w[obj + HO.STATE] === HEAP_ALLOC) return w[obj + HO.BYTES]! >> 2;
    if (w[obj + HO.FREE_WHO] !== 0) useAfterFree(cpu, shm, obj, p + i, n, write);
  }
  const boot = bootmemWords(shm, p);
  if (boot >= 0) return boot;
  return wildAccess(cpu, shm, p, i, n, write);
}

/** An access of `n` words at index `i` of the object at `p` (bounds: `words`) falls outside it. */
export function outOfBounds(cpu: Cpu, shm: Shm, p: number, words: number, i: number, n: number, write: boolean): never {
  const fn = cpu.stack()[0] ?? '?';
  const at = p + i;
  // where the first bad byte is, as KASAN says it (an access that starts inside runs out at the end)
  const where = i < 0 ? `${-i * 4} bytes to the left of` : `${(Math.max(i, words) - words) * 4} bytes to the right of`;
  if (!heapObjectStart(shm, p)) {
    // bootmem: the first chunk's records and static maps (static arrays in 2.6.35: globals to KASAN)
    cpu.report('out-of-bounds', `BUG: KASAN: global-out-of-bounds in ${fn}`,
      `${access(cpu, at, n, write)}\n\nThe buggy address belongs to the boot-time object at ${hexw(p)} of ${words * 4} bytes (the first chunk's record or static map)\nThe buggy address is located ${where}\n ${words * 4}-byte region [${hexw(p)}, ${hexw(p + words)})\n` +
      `(an access of ${n * 4} bytes at offset ${i * 4} of an object of size ${words * 4})\n`,
      true, { object: 'bootmem', at: p, offset: i * 4, size: n * 4, objectSize: words * 4, write });
  }
  const o = objectLines(cpu, shm, p - HO.SIZE);
  cpu.report('out-of-bounds', `BUG: KASAN: ${o.vmalloc ? 'vmalloc' : 'slab'}-out-of-bounds in ${fn}`,
    `${access(cpu, at, n, write)}\n\n${o.lines}The buggy address is located ${where}\n ${o.bytes}-byte region [${hexw(p)}, ${hexw(p + (o.bytes >> 2))})\n` +
    `(an access of ${n * 4} bytes at offset ${i * 4} of ${o.name}, of size ${o.bytes}, allocated by ${o.allocatedBy[0] ?? '?'})\n`,
    true, { object: o.name, at: p, offset: i * 4, size: n * 4, objectSize: o.bytes, allocatedBy: o.allocatedBy, write });
  throw new Error('unreachable');
}

/** An access to a heap object the heap recorded as freed: KASAN's use-after-free, naming who freed it. */
export function useAfterFree(cpu: Cpu, shm: Shm, obj: number, at: number, n: number, write: boolean, what = ''): never {
  const fn = cpu.stack()[0] ?? '?';
  const o = objectLines(cpu, shm, obj);
  cpu.report('use-after-free', `BUG: KASAN: use-after-free in ${fn}`,
    `${access(cpu, at, n, write)}${what ? ` (${what})` : ''}\n\n${o.lines}`,
    true, { at: obj + HO.SIZE, objectSize: o.bytes, allocatedBy: o.allocatedBy, freedBy: o.freedBy, write });
  throw new Error('unreachable');
}

/** An access through a pointer that starts no object: named by the object it lands in, if any. */
export function wildAccess(cpu: Cpu, shm: Shm, p: number, i: number, n: number, write: boolean, what = ''): never {
  const fn = cpu.stack()[0] ?? '?';
  const obj = heapObjectAt(shm, p);
  let lands = 'outside every heap and bootmem object';
  let details: Record<string, unknown> = { at: p, write };
  if (obj >= 0) {
    const o = objectLines(cpu, shm, obj);
    const off = (p - obj - HO.SIZE) * 4;
    lands = off < 0 ? `in the header of ${o.name} at ${hexw(obj + HO.SIZE)}` : `${off} bytes into ${o.name} at ${hexw(obj + HO.SIZE)}`;
    lands += `\n\n${o.lines}`.replace(/\n$/, '');
    details = { ...details, object: o.name, objectAt: obj + HO.SIZE, offset: off, allocatedBy: o.allocatedBy };
  }
  cpu.report('out-of-bounds', `BUG: KASAN: wild-memory-access in ${fn}`,
    `${access(cpu, p + i, n, write)}${what ? ` (${what})` : ''}\n${hexw(p)} is the start of no object: it lies ${lands}\n`, true, details);
  throw new Error('unreachable');
}

/**
 * An access to a field of the pcpu_chunk record at `c` whose heap object is
 * not live (the race checker's dead-record check): a use-after-free only if
 * the heap recorded its free, else a wild access.
 */
export function deadRecord(cpu: Cpu, shm: Shm, c: number, field: string, write: boolean, name: string): never {
  const what = `${field} of ${name}`;
  if (heapObjectStart(shm, c) && shm.w[c - HO.SIZE + HO.STATE] === HEAP_FREE && shm.w[c - HO.SIZE + HO.FREE_WHO] !== 0) useAfterFree(cpu, shm, c - HO.SIZE, c, 1, write, what);
  return wildAccess(cpu, shm, c, 0, 1, write, what);
}

/**
 * The bounds of the last object one accessor indexed, cached until the heap
 * frees anything (the object could be the one freed). The accessor's fast
 * path is `base === b.base && (i >>> 0) < b.words && frees === b.frees`;
 * anything else calls check(), which learns the object's bounds and holds
 * the access to them.
 */
export class ObjectBounds {
  base = -1;
  words = 0;
  frees = -1;
  private readonly freesAt: number;

  constructor(private readonly shm: Shm, freesAt: number) {
    this.freesAt = freesAt;
  }

  /** Forget what was learned (a new boot: the heap and its count of frees start over). */
  forget(): void {
    this.base = -1;
    this.words = 0;
    this.frees = -1;
  }

  /** An access of `n` words at index `i` of the object at `base` by `cpu` (null: not checking). */
  check(cpu: Cpu | null, base: number, i: number, n: number, write: boolean): void {
    if (cpu === null) return;
    const frees = this.shm.w[this.freesAt]!;
    if (base !== this.base || frees !== this.frees) {
      this.base = -1;
      this.words = objectWords(cpu, this.shm, base, i, n, write);
      this.base = base;
      this.frees = frees;
    }
    if (i < 0 || i + n > this.words) outOfBounds(cpu, this.shm, base, this.words, i, n, write);
  }
}
