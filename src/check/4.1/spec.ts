// Specification checks of Linux 4.1's area map: did the allocator do what
// 4.1 does? Each rule is restated here from 4.1's rules, on a copy of the
// map taken before the call, and the chunk is compared with the model after
// it (the whole map, map_used, first_free, free_size, contig_hint, and the
// pages the area occupies):
//
//   first-fit  pcpu_alloc_area scans from first_free and takes the first
//              free area where the request fits at its alignment; an atomic
//              request (pop_only) fits only where every page it touches is
//              populated, and a candidate that meets an unpopulated page is
//              retried from the next populated page; a head under 4 bytes,
//              or one after a free area, is merged into the area before it,
//              a tail under 4 bytes stays in the allocation; first_free
//              becomes the first free area the scan passed (or the area
//              after the allocation); contig_hint is the largest free area
//              seen when the scan reached the end, else it only grows;
//   merge      pcpu_free_area frees the area in use at the offset, lowers
//              first_free to it, merges it with free neighbours, and
//              contig_hint grows to the merged area;
//   occupied   the pages reported occupied (pcpu_count_occupied_pages) are
//              the pages the area covers that no other area in use touches;
//   relocation a chunk moving up a slot goes to the head of its new list,
//              one moving down to the tail, one staying is not moved.
//
// Reads here are raw: the checker's, not the allocator's.

import { C, C41 } from '../../percpu/records.ts';
import { CK } from '../records.ts';
import type { Cpu } from '../../sync/cpu.ts';
import type { PcpuState } from '../../percpu/chunk.ts';
import type { Spec41Hooks } from '../../percpu/4.1/hooks.ts';
import type { Shm } from '../../shm/layout.ts';

export type Spec41Check = 'first-fit' | 'merge' | 'occupied' | 'relocation';
export const SPEC41_CHECKS: readonly Spec41Check[] = ['first-fit', 'merge', 'occupied', 'relocation'];

const INT_SIZE = 4;

function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

export class Spec41Checker implements Spec41Hooks {
  private readonly w: Int32Array;
  private readonly st: PcpuState;
  private readonly shm: Shm;
  private readonly cx: number;
  private readonly reported = new Set<Spec41Check>();
  // the model: the map 4.1 leaves, and the chunk's scalars
  private model = new Int32Array(64);
  private modelUsed = 0;
  private mFree = 0;
  private mContig = 0;
  private mFirstFree = 0;
  private mOcc = 0;
  private expectOff = -1;
  private modelled = false;
  /** The rule for this call reads outside the map (4.1's own undefined behaviour): no model to compare with. */
  private unmodelled = false;
  private oslot = 0;
  private oprev = 0;
  private onext = 0;

  constructor(k: { st: PcpuState; shm: Shm }) {
    this.st = k.st;
    this.shm = k.shm;
    this.w = k.shm.w;
    this.cx = k.shm.L.chunkX;
  }

  reset(): void {
    this.reported.clear();
  }

  // ---- the rules, restated --------------------------------------------------
  private slotOf(c: number): number {
    const free = this.w[c + C.FREE_SIZE]!, contig = this.w[c + C.CONTIG_HINT]!;
    if (free < INT_SIZE || contig < INT_SIZE) return 0;
    if (free === this.st.unitSize) return this.st.nrSlots - 1;
    return Math.max(fls(free) - 5 + 2, 1);
  }

  private populated(c: number, page: number): boolean {
    return ((this.w[c + C.POPULATED + (page >>> 5)]! >>> (page & 31)) & 1) !== 0;
  }

  /** Where `size` at `align` fits in free area [off, off + len) (the padding), or -1; pop_only: on populated pages only. */
  private fit(c: number, off: number, len: number, size: number, align: number, popOnly: boolean): number {
    const ps = this.st.pageSize, shift = this.st.pageShift;
    for (let cand = off; ;) {
      // ALIGN(), as 4.1 writes it (a mask: meant for powers of two, and what 4.1 does with any other)
      const head = ((cand + align - 1) & ~(align - 1)) - off;
      if (len < head + size) return -1;
      if (!popOnly) return head;
      // the first page the request touches that is not populated, if any
      const first = (off + head) >> shift, last = (off + head + size - 1) >> shift;
      let hole = -1;
      for (let p = first; p <= last && hole < 0; p++) if (!this.populated(c, p)) hole = p;
      if (hole < 0) return head;
      // retry from the next populated page in the area (or give up past its end)
      const areaEnd = (off + len + ps - 1) >> shift;
      let next = hole + 1;
      while (next < areaEnd && !this.populated(c, next)) next++;
      cand = next * ps;
    }
  }

  /**
   * Room, by 4.1's rules and this model's own fit: the first offset where
   * `size` at `align` fits in a free area of chunk c (on populated pages only
   * with `popOnly`), from area 0 whatever first_free says, or -1. For the
   * failure checker (src/check/failures.ts): read raw, pcpu_lock held.
   */
  firstFit(c: number, size: number, align: number, popOnly = false): number {
    const w = this.w, m = w[c + C.MAP]!, used = w[c + C.MAP_USED]!;
    for (let i = 0; i < used; i++) {
      const off = w[m + i]!;
      if (off & 1) continue;
      const head = this.fit(c, off, (w[m + i + 1]! & ~1) - off, size, align, popOnly);
      if (head >= 0) return off + head;
    }
    return -1;
  }

  /** Pages [off, end) covers that no other area in use touches, in the model map d (area i). */
  private occupied(d: Int32Array, used: number, i: number): number {
    const ps = this.st.pageSize;
    const off = d[i]! & ~1, end = d[i + 1]! & ~1;
    let n = 0;
    for (let p = Math.floor(off / ps); p * ps < end; p++) {
      const lo = p * ps, hi = lo + ps;
      // every other area touching [lo, hi) must be free, and the page must lie inside the map's span
      let clear = hi <= (d[used]! & ~1);
      for (let k = 0; k < used && clear; k++) {
        if (k === i) continue;
        const a = d[k]! & ~1, b = d[k + 1]! & ~1;
        if (a < hi && b > lo && (d[k]! & 1) !== 0) clear = false;
      }
      if (clear) n++;
    }
    return n;
  }

  private begin(c: number): Int32Array {
    const w = this.w, m = w[c + C.MAP]!, used = w[c + C.MAP_USED]!;
    if (this.model.length < used + 4) this.model = new Int32Array(used * 2 + 4);
    const d = this.model;
    for (let i = 0; i <= used; i++) d[i] = w[m + i]!;
    this.modelUsed = used;
    this.mFree = w[c + C.FREE_SIZE]!;
    this.mContig = w[c + C.CONTIG_HINT]!;
    this.mFirstFree = w[c + this.cx + C41.FIRST_FREE]!;
    this.mOcc = 0;
    return d;
  }

  /** pcpu_alloc_area's effect on a copy: the offset (or -1); the model holds the chunk after it. */
  private modelAlloc(c: number, size: number, align: number, popOnly: boolean): number {
    const d = this.begin(c);
    const used = this.modelUsed;
    let max = 0;
    let seen = false;
    for (let i = this.mFirstFree; i < used; i++) {
      if (d[i]! & 1) continue;
      let off = d[i]!;
      let len = (d[i + 1]! & ~1) - off;
      let head = this.fit(c, off, len, size, align, popOnly);
      if (head < 0) {
        if (!seen) {
          this.mFirstFree = i;
          seen = true;
        }
        max = Math.max(max, len);
        continue;
      }
      if (head && i === 0) {
        // the head would be merged into "the area before the first": 4.1 reads map[-1], before the
        // map, and what it does depends on that word. The bounds checks report the read; no model here.
        this.unmodelled = true;
        return off + head;
      }
      if (head && (head < INT_SIZE || !(d[i - 1]! & 1))) {
        // the head joins the area before it
        off += head;
        d[i] = off;
        if (d[i - 1]! & 1) this.mFree -= head;
        else max = Math.max(max, off - d[i - 1]!);
        len -= head;
        head = 0;
      }
      let tail = len - head - size;
      let got = size;
      if (tail < INT_SIZE) {
        tail = 0;
        got = len - head;
      }
      const extra = (head ? 1 : 0) + (tail ? 1 : 0);
      // shift the rest of the map (sentry included) to make room
      for (let k = used; k > i; k--) d[k + extra] = d[k]!;
      let at = i;
      if (head) {
        if (!seen) {
          this.mFirstFree = i;
          seen = true;
        }
        at = i + 1;
        off += head;
        d[at] = off;
        max = Math.max(max, head);
      }
      if (tail) {
        d[at + 1] = off + got;
        max = Math.max(max, tail);
      }
      this.modelUsed = used + extra;
      if (!seen) this.mFirstFree = at + 1;
      this.mContig = at + 1 === this.modelUsed ? max : Math.max(this.mContig, max);
      this.mFree -= got;
      d[at] = off | 1;
      this.mOcc = this.occupied(d, this.modelUsed, at);
      return off;
    }
    this.mContig = max;
    return -1;
  }

  /** pcpu_free_area's effect on a copy; false when no area in use starts at `off`. */
  private modelFree(c: number, off: number): boolean {
    const d = this.begin(c);
    const used = this.modelUsed;
    let i = 0;
    while (i < used && d[i] !== (off | 1)) i++;
    if (i === used) return false;
    if (i < this.mFirstFree) this.mFirstFree = i;
    d[i] = off;
    this.mFree += (d[i + 1]! & ~1) - off;
    this.mOcc = this.occupied(d, used, i);
    let drop = 0;
    if (!(d[i + 1]! & 1)) drop++;
    if (i > 0 && !(d[i - 1]! & 1)) {
      drop++;
      i--;
    }
    if (drop) {
      for (let k = i + 1; k + drop <= used; k++) d[k] = d[k + drop]!;
      this.modelUsed = used - drop;
    }
    this.mContig = Math.max(d[i + 1]! - d[i]! - 1, this.mContig);
    return true;
  }

  /** How the chunk differs from the model ('' when it does not). */
  private diff(c: number): string {
    const w = this.w, m = w[c + C.MAP]!, used = w[c + C.MAP_USED]!;
    const out: string[] = [];
    let first = -1;
    for (let i = 0; i <= Math.max(used, this.modelUsed) && first < 0; i++) if (w[m + i] !== this.model[i]) first = i;
    if (used !== this.modelUsed || first >= 0) {
      const from = Math.max(0, first - 2);
      const show = (xs: ArrayLike<number>, n: number): string => Array.from({ length: Math.max(0, Math.min(n + 1, from + 6) - from) }, (_, k) => xs[from + k]).join(', ');
      out.push(`map[${from}..]: 4.1 gives [${show(this.model, this.modelUsed)}] (map_used ${this.modelUsed}), the chunk has [${show(w.subarray(m, m + used + 1), used)}] (map_used ${used})`);
    }
    if (w[c + C.FREE_SIZE] !== this.mFree) out.push(`free_size ${w[c + C.FREE_SIZE]}, 4.1 gives ${this.mFree}`);
    if (w[c + C.CONTIG_HINT] !== this.mContig) out.push(`contig_hint ${w[c + C.CONTIG_HINT]}, 4.1 gives ${this.mContig}`);
    if (w[c + this.cx + C41.FIRST_FREE] !== this.mFirstFree) out.push(`first_free ${w[c + this.cx + C41.FIRST_FREE]}, 4.1 gives ${this.mFirstFree}`);
    return out.join('; ');
  }

  private fail(cpu: Cpu, check: Spec41Check, what: string): void {
    if (this.reported.has(check)) return;
    this.reported.add(check);
    cpu.report('spec', `percpu: ${check}: the allocator departs from 4.1`, what, false, { check });
  }

  private chunkName(c: number): string {
    return c === this.st.firstChunk ? 'the first chunk' : c === this.st.reservedChunk ? 'the reserved chunk' : `chunk #${this.w[c + C.SEQ]}`;
  }

  private capturePlace(c: number): void {
    this.oslot = this.slotOf(c);
    this.oprev = this.w[c + 1]!;
    this.onext = this.w[c]!;
  }

  private checkPlace(cpu: Cpu, c: number, fn: string): void {
    const w = this.w;
    if (c === this.st.reservedChunk) return;
    const nslot = this.slotOf(c);
    const head = this.st.L.slots + nslot * 2;
    let ok: boolean, where: string;
    if (nslot > this.oslot) {
      ok = w[head] === c;
      where = `at the head of pcpu_slot[${nslot}]`;
    } else if (nslot < this.oslot) {
      ok = w[head + 1] === c;
      where = `at the tail of pcpu_slot[${nslot}]`;
    } else {
      ok = w[c] === this.onext && w[c + 1] === this.oprev;
      where = `where it was (its slot, ${nslot}, did not change)`;
    }
    if (!ok) this.fail(cpu, 'relocation', `${fn}: ${this.chunkName(c)} moved from slot ${this.oslot} and must be ${where}`);
  }

  // ---- hooks (pcpu_lock held) ------------------------------------------------
  beforeAlloc(_cpu: Cpu, c: number, size: number, align: number, popOnly: boolean): void {
    this.unmodelled = false;
    this.expectOff = this.modelAlloc(c, size, align, popOnly);
    this.capturePlace(c);
  }

  afterAlloc(cpu: Cpu, c: number, size: number, align: number, popOnly: boolean, off: number, occPages: number): void {
    const call = `pcpu_alloc_area(${this.chunkName(c)}, size ${size}, align ${align}${popOnly ? ', pop_only' : ''})`;
    if (this.unmodelled) return;
    if (off !== this.expectOff) {
      this.fail(cpu, 'first-fit', `${call} returned ${off}; 4.1's first fit from first_free gives ${this.expectOff}`);
    } else {
      const d = this.diff(c);
      if (d) this.fail(cpu, 'first-fit', `${call} returned ${off} as 4.1 does, but left the chunk unlike it: ${d}`);
      else if (off >= 0 && occPages !== this.mOcc) this.fail(cpu, 'occupied', `${call} reported ${occPages} occupied pages; the area at ${off} covers ${this.mOcc} page(s) no other area in use touches`);
    }
    this.checkPlace(cpu, c, 'pcpu_alloc_area');
  }

  beforeFree(_cpu: Cpu, c: number, off: number): void {
    this.modelled = this.modelFree(c, off);
    this.capturePlace(c);
  }

  afterFree(cpu: Cpu, c: number, off: number, occPages: number): void {
    if (!this.modelled) return; // no area in use started there: pcpu_free_area's BUG_ON reported it
    const call = `pcpu_free_area(${this.chunkName(c)}, ${off})`;
    const d = this.diff(c);
    if (d) this.fail(cpu, 'merge', `${call} left the chunk unlike 4.1: ${d}`);
    else if (occPages !== this.mOcc) this.fail(cpu, 'occupied', `${call} reported ${occPages} occupied pages; the freed area covered ${this.mOcc} page(s) no other area in use touches`);
    this.checkPlace(cpu, c, 'pcpu_free_area');
  }

  allocFailed(atomic: boolean): void {
    // only non-atomic failures count against warn_limit
    if (!atomic) Atomics.add(this.w, this.shm.L.ck + CK.ALLOC_FAILS, 1);
  }
}
