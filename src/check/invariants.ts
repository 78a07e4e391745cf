// The invariant checker: reads the allocator's shared state and lists every
// broken invariant, each under its own name and with its own message. It
// never changes state. `checkChunk` is cheap (one chunk, its map and its
// pages) and runs after pcpu_lock releases; `checkAll` walks everything and
// runs at quiescence.

import { C, HEAP_ALLOC, HO, PAGE_ALLOCATED, PAGE_BOOTMEM } from '../shm/layout.ts';
import { Tag } from '../mm/heap.ts';
import { pageIndex, pageState } from '../mm/pages.ts';
import { vmToPfn } from '../mm/vm.ts';
import { chunkSlot } from '../percpu/area-map.ts';
import { staticByte } from '../percpu/first-chunk.ts';
import { peekByte } from '../percpu/access.ts';
import type { CheckTarget } from './target.ts';

export type InvariantName =
  | 'map-entries' // entries non-zero, at least one
  | 'map-span' // sum of |map| = the chunk's managed span
  | 'free-size' // free_size = sum of free entries
  | 'adjacent-free' // no two neighbouring free entries
  | 'contig-hint' // contig_hint >= the largest free block
  | 'slot' // on the slot list its free size calls for
  | 'one-list' // each non-reserved chunk on exactly one slot list, the reserved one on none
  | 'list-links' // next->prev and prev->next point back
  | 'map-used' // map_used <= map_alloc
  | 'populated' // every allocated area populated and mapped
  | 'back-pointer' // every mapped page points back to its chunk
  | 'first-chunk'; // present, immutable, static area intact

export interface InvariantFailure {
  invariant: InvariantName;
  chunk: number; // creation number, -1 when not about one chunk
  message: string;
}

const MAX_WALK = 1 << 16;

export class InvariantChecker {
  constructor(private readonly k: CheckTarget) {}

  /** The managed span of a chunk: a unit, or the first chunk's static+reserved(+dyn). */
  span(chunk: number): number {
    const st = this.k.st;
    const ai = this.k.spec.ai;
    if (chunk === st.reservedChunk) return st.reservedLimit;
    if (chunk === st.firstChunk) return st.reservedChunk ? st.reservedLimit + ai.dynSize : ai.staticSize + ai.dynSize;
    return st.unitSize;
  }

  /** Is this a chunk record at all (first/reserved, or a live chunk object)? */
  isChunk(chunk: number): boolean {
    const st = this.k.st;
    if (chunk === st.firstChunk || (chunk !== 0 && chunk === st.reservedChunk)) return true;
    const obj = chunk - HO.SIZE;
    return obj >= st.L.heapArena && obj < st.L.heapArena + st.L.heapWords &&
      st.w[obj + HO.STATE] === HEAP_ALLOC && st.w[obj + HO.TAG_OR_NEXT] === Tag.CHUNK;
  }

  /**
   * Area map invariants of one chunk, and with `pages` its page invariants
   * (only at quiescence: an allocation populates its area after dropping
   * pcpu_lock, so under the lock an allocated area may not be populated yet).
   */
  checkChunk(chunk: number, out: InvariantFailure[] = [], pages = true): InvariantFailure[] {
    const st = this.k.st;
    const w = st.w;
    const seq = st.seq(chunk);
    const fail = (invariant: InvariantName, message: string): void => {
      out.push({ invariant, chunk: seq, message: `chunk ${seq}: ${message}` });
    };
    const used = st.mapUsed(chunk);
    const alloc = st.mapAlloc(chunk);
    if (used > alloc) {
      fail('map-used', `map_used ${used} > map_alloc ${alloc}`);
      return out;
    }
    if (used < 1) fail('map-entries', 'empty area map');
    const m = st.map(chunk);
    let sum = 0;
    let free = 0;
    let largest = 0;
    let prevFree = false;
    for (let i = 0, off = 0; i < used; i++) {
      const e = w[m + i]!;
      if (e === 0) fail('map-entries', `map[${i}] is zero`);
      if (e > 0) {
        free += e;
        largest = Math.max(largest, e);
        if (prevFree) fail('adjacent-free', `map[${i - 1}] and map[${i}] are both free`);
      }
      prevFree = e > 0;
      if (pages && e < 0 && !st.immutable(chunk)) this.checkArea(chunk, off, -e, fail);
      sum += Math.abs(e);
      off += Math.abs(e);
    }
    const span = this.span(chunk);
    if (sum !== span) fail('map-span', `sum of |map| is ${sum}, the chunk manages ${span} bytes`);
    if (st.freeSize(chunk) !== free) fail('free-size', `free_size ${st.freeSize(chunk)} but the free entries add up to ${free}`);
    if (st.contigHint(chunk) < largest) fail('contig-hint', `contig_hint ${st.contigHint(chunk)} < largest free block ${largest}`);
    return out;
  }

  /** An allocated area must be populated and mapped in every unit (vm backend). */
  private checkArea(chunk: number, off: number, size: number, fail: (n: InvariantName, m: string) => void): void {
    const st = this.k.st;
    if (this.k.spec.cfg.backend !== 'vm') return;
    const first = off >>> st.pageShift;
    const last = (off + size - 1) >>> st.pageShift;
    for (let p = first; p <= last; p++) {
      if (!st.populated(chunk, p)) {
        fail('populated', `allocated area [${off}, ${off + size}) but page ${p} is not populated`);
        return;
      }
      for (let cpu = 0; cpu < st.nrCpus; cpu++) {
        const addr = this.k.pcpu.chunkAddr(chunk, cpu, p);
        const pfn = vmToPfn(st.shm, addr, st.pageShift);
        if (pfn < 0) {
          fail('populated', `page ${p} is populated but not mapped for cpu${cpu}`);
          return;
        }
        if (pageState(st.shm, pfn) !== PAGE_ALLOCATED) fail('back-pointer', `page ${p} of cpu${cpu} maps pfn ${pfn}, which is not allocated`);
        else if (pageIndex(st.shm, pfn) !== chunk) fail('back-pointer', `pfn ${pfn} (page ${p} of cpu${cpu}) points to w[${pageIndex(st.shm, pfn)}], not to its chunk`);
      }
    }
  }

  /** Everything: lists, every chunk, the first chunk. */
  checkAll(): InvariantFailure[] {
    const st = this.k.st;
    const out: InvariantFailure[] = [];
    const onList = new Map<number, number>();
    for (let s = 0; s < st.nrSlots; s++) {
      const head = st.slotHead(s);
      let n = 0;
      for (let pos = head; ; ) {
        const next = st.next(pos);
        if (st.prev(next) !== pos) {
          out.push({ invariant: 'list-links', chunk: -1, message: `pcpu_slot[${s}]: node w[${next}]->prev does not point back to w[${pos}]` });
          break;
        }
        if (next === head) break;
        if (!this.isChunk(next)) {
          const hs = st.headSlot(next);
          out.push({ invariant: 'list-links', chunk: -1, message: `pcpu_slot[${s}] links to w[${next}], which is ${hs >= 0 ? `the head of pcpu_slot[${hs}]` : 'not a chunk'}` });
          break;
        }
        if (++n > MAX_WALK) {
          out.push({ invariant: 'list-links', chunk: -1, message: `pcpu_slot[${s}] does not come back to its head` });
          break;
        }
        if (onList.has(next)) out.push({ invariant: 'one-list', chunk: st.seq(next), message: `chunk ${st.seq(next)} is on pcpu_slot[${onList.get(next)}] and pcpu_slot[${s}]` });
        onList.set(next, s);
        const want = chunkSlot(st, next);
        if (want !== s && next !== st.reservedChunk) out.push({ invariant: 'slot', chunk: st.seq(next), message: `chunk ${st.seq(next)} is on pcpu_slot[${s}] but free_size ${st.freeSize(next)}, contig_hint ${st.contigHint(next)} call for slot ${want}` });
        pos = next;
      }
    }
    const first = st.firstChunk;
    if (!first) {
      out.push({ invariant: 'first-chunk', chunk: -1, message: 'pcpu_first_chunk is NULL' });
      return out;
    }
    if (st.reservedChunk && onList.has(st.reservedChunk)) {
      out.push({ invariant: 'one-list', chunk: st.seq(st.reservedChunk), message: `the reserved chunk is on pcpu_slot[${onList.get(st.reservedChunk)}]` });
    }
    if (!onList.has(first) && first !== st.reservedChunk) out.push({ invariant: 'one-list', chunk: st.seq(first), message: 'the first chunk is on no slot list' });
    this.checkFirstChunk(out);
    for (const c of onList.keys()) this.checkChunk(c, out);
    if (st.reservedChunk) this.checkChunk(st.reservedChunk, out);
    this.checkBackPointers(onList, out);
    return out;
  }

  private checkFirstChunk(out: InvariantFailure[]): void {
    const st = this.k.st;
    for (const c of [st.firstChunk, st.reservedChunk]) {
      if (c && !st.immutable(c)) out.push({ invariant: 'first-chunk', chunk: st.seq(c), message: `first chunk ${st.seq(c)} is not immutable` });
      if (c && st.nextBit(c + C.POPULATED, st.unitPages, 0, false) < st.unitPages) {
        out.push({ invariant: 'first-chunk', chunk: st.seq(c), message: 'first chunk is not fully populated' });
      }
    }
    const base = st.baseAddr(st.firstChunk);
    const staticSize = this.k.spec.ai.staticSize;
    for (let cpu = 0; cpu < st.nrCpus; cpu++) {
      for (let off = 0; off < staticSize; off += 61) {
        const byte = peekByte(st, base + st.unitOffset(cpu) + off);
        if (byte !== staticByte(off)) {
          out.push({ invariant: 'first-chunk', chunk: st.seq(st.firstChunk), message: `static area of cpu${cpu} overwritten at offset ${off}` });
          return;
        }
      }
    }
  }

  /** Every mapped page of every chunk points back to its chunk; no page is in two chunks. */
  private checkBackPointers(onList: Map<number, number>, out: InvariantFailure[]): void {
    const st = this.k.st;
    if (this.k.spec.cfg.backend !== 'vm') return;
    for (const c of onList.keys()) {
      if (st.immutable(c)) continue;
      for (let p = 0; p < st.unitPages; p++) {
        if (!st.populated(c, p)) continue;
        for (let cpu = 0; cpu < st.nrCpus; cpu++) {
          const pfn = vmToPfn(st.shm, this.k.pcpu.chunkAddr(c, cpu, p), st.pageShift);
          if (pfn >= 0 && pageState(st.shm, pfn) !== PAGE_BOOTMEM && pageIndex(st.shm, pfn) !== c) {
            out.push({ invariant: 'back-pointer', chunk: st.seq(c), message: `chunk ${st.seq(c)}: pfn ${pfn} (page ${p} of cpu${cpu}) points to w[${pageIndex(st.shm, pfn)}]` });
            return;
          }
        }
      }
    }
  }
}
