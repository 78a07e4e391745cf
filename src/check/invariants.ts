// The invariant checker: reads the allocator's shared state and lists every
// broken invariant, each under its own name and with its own message. It
// never changes state, and it shares no code with what it checks: it reads
// the records raw (src/percpu/records.ts gives their shape, nothing more),
// walks the slot lists itself, and computes slots, free sizes and the
// largest free block from the 2.6.35 rules, written down here again.
// `checkChunk` is cheap (one chunk, its map and its pages) and runs after
// pcpu_lock releases; `checkAll` walks everything and runs at quiescence.

import { C, PC } from '../percpu/records.ts';
import { HEAP_ALLOC, HO, PAGE_ALLOCATED, PAGE_BOOTMEM, PG } from '../mm/records.ts';
import { Tag } from '../mm/heap.ts';
import { staticByte } from '../percpu/first-chunk.ts';
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
  | 'first-chunk' // present, immutable, static area intact
  // Linux 4.1's
  | 'first-free' // no free area below first_free
  | 'map-sentry' // offsets rise, start at 0, the sentry ends the span in use
  | 'nr-populated' // nr_populated counts the populated bitmap's pages, no bit past the unit
  | 'empty-pop-pages'; // pcpu_nr_empty_pop_pages counts the empty populated pages (at quiescence)

export interface InvariantFailure {
  invariant: InvariantName;
  chunk: number; // creation number, -1 when not about one chunk
  message: string;
}

const MAX_WALK = 1 << 16;
const INT_SIZE = 4;

/** fls(): the 1-based index of the most significant set bit. */
function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

export function pushFailure(out: InvariantFailure[], seq: number, invariant: InvariantName, message: string): void {
  out.push({ invariant, chunk: seq, message: `chunk ${seq}: ${message}` });
}

export class InvariantChecker {
  protected readonly w: Int32Array;

  constructor(protected readonly k: CheckTarget) {
    this.w = k.shm.w;
  }

  protected get L(): CheckTarget['shm']['L'] {
    return this.k.shm.L;
  }
  protected g(f: PC): number {
    return this.w[this.L.pc + f]!;
  }
  protected get unitSize(): number {
    return this.g(PC.UNIT_SIZE);
  }
  protected get pageShift(): number {
    return 31 - Math.clz32(this.k.spec.cfg.pageSize);
  }

  /** The slot 2.6.35 files a chunk under (__pcpu_size_to_slot and pcpu_chunk_slot, restated). */
  slotFor(free: number, contig: number): number {
    if (free < INT_SIZE || contig < INT_SIZE) return 0;
    if (free === this.unitSize) return this.g(PC.NR_SLOTS) - 1;
    return Math.max(fls(free) - 5 + 2, 1);
  }

  /** The managed span of a chunk: a unit, or the first chunk's static+reserved(+dyn). */
  span(chunk: number): number {
    const ai = this.k.spec.ai;
    const reserved = this.g(PC.RESERVED_CHUNK), limit = this.g(PC.RESERVED_LIMIT);
    if (chunk === reserved) return limit;
    if (chunk === this.g(PC.FIRST_CHUNK)) return reserved ? limit + ai.dynSize : ai.staticSize + ai.dynSize;
    return this.unitSize;
  }

  protected seq(c: number): number {
    return this.w[c + C.SEQ]!;
  }

  /** Is this a chunk record at all (first/reserved, or a live chunk object)? */
  isChunk(chunk: number): boolean {
    const L = this.L, w = this.w;
    if (chunk === this.g(PC.FIRST_CHUNK) || (chunk !== 0 && chunk === this.g(PC.RESERVED_CHUNK))) return true;
    const obj = chunk - HO.SIZE;
    return obj >= L.heapArena && obj < L.heapArena + L.heapWords && w[obj + HO.STATE] === HEAP_ALLOC && w[obj + HO.TAG_OR_NEXT] === Tag.CHUNK;
  }

  protected populatedBit(c: number, p: number): boolean {
    return ((this.w[c + C.POPULATED + (p >>> 5)]! >>> (p & 31)) & 1) !== 0;
  }

  /** The pfn mapped at a vmalloc address, from the page tables, or -1. */
  protected pfnAt(addr: number): number {
    const L = this.L;
    const i = (addr - L.vmBase) >>> this.pageShift;
    return addr >= L.vmBase && i < L.vmPages ? this.w[L.pte + i]! - 1 : -1;
  }

  protected chunkAddr(c: number, cpu: number, page: number): number {
    return this.w[c + C.BASE_ADDR]! + this.w[this.L.unitOff + cpu]! + (page << this.pageShift);
  }

  protected pageState(pfn: number): number {
    return this.w[this.L.pageDesc + pfn * PG.SIZE + PG.STATE]!;
  }

  protected pageIndex(pfn: number): number {
    return this.w[this.L.pageDesc + pfn * PG.SIZE + PG.INDEX]!;
  }

  /**
   * Area map invariants of one chunk, and with `pages` its page invariants
   * (only at quiescence: an allocation populates its area after dropping
   * pcpu_lock, so under the lock an allocated area may not be populated yet).
   */
  checkChunk(chunk: number, out: InvariantFailure[] = [], pages = true): InvariantFailure[] {
    const w = this.w;
    // runs after every operation: nothing here allocates unless something fails
    const seq = this.seq(chunk);
    const used = w[chunk + C.MAP_USED]!;
    const alloc = w[chunk + C.MAP_ALLOC]!;
    if (used > alloc) {
      pushFailure(out, seq, 'map-used', `map_used ${used} > map_alloc ${alloc}`);
      return out;
    }
    if (used < 1) pushFailure(out, seq, 'map-entries', 'empty area map');
    const m = w[chunk + C.MAP]!;
    const immutable = w[chunk + C.IMMUTABLE] !== 0;
    let sum = 0;
    let free = 0;
    let largest = 0;
    let prevFree = false;
    for (let i = 0, off = 0; i < used; i++) {
      const e = w[m + i]!;
      if (e === 0) pushFailure(out, seq, 'map-entries', `map[${i}] is zero`);
      if (e > 0) {
        free += e;
        largest = Math.max(largest, e);
        if (prevFree) pushFailure(out, seq, 'adjacent-free', `map[${i - 1}] and map[${i}] are both free`);
      }
      prevFree = e > 0;
      if (pages && e < 0 && !immutable) this.checkArea(chunk, off, -e, out, seq);
      sum += Math.abs(e);
      off += Math.abs(e);
    }
    const span = this.span(chunk);
    if (sum !== span) pushFailure(out, seq, 'map-span', `sum of |map| is ${sum}, the chunk manages ${span} bytes`);
    const freeSize = w[chunk + C.FREE_SIZE]!, contig = w[chunk + C.CONTIG_HINT]!;
    if (freeSize !== free) pushFailure(out, seq, 'free-size', `free_size ${freeSize} but the free entries add up to ${free}`);
    if (contig < largest) pushFailure(out, seq, 'contig-hint', `contig_hint ${contig} < largest free block ${largest}`);
    return out;
  }

  /** An allocated area must be populated and mapped in every unit (vm backend). */
  protected checkArea(chunk: number, off: number, size: number, out: InvariantFailure[], seq: number): void {
    if (this.k.spec.cfg.backend !== 'vm') return;
    const shift = this.pageShift;
    const first = off >>> shift;
    const last = (off + size - 1) >>> shift;
    for (let p = first; p <= last; p++) {
      if (!this.populatedBit(chunk, p)) {
        pushFailure(out, seq, 'populated', `allocated area [${off}, ${off + size}) but page ${p} is not populated`);
        return;
      }
      for (let cpu = 0; cpu < this.k.spec.cfg.cpus; cpu++) {
        const pfn = this.pfnAt(this.chunkAddr(chunk, cpu, p));
        if (pfn < 0) {
          pushFailure(out, seq, 'populated', `page ${p} is populated but not mapped for cpu${cpu}`);
          return;
        }
        if (this.pageState(pfn) !== PAGE_ALLOCATED) pushFailure(out, seq, 'back-pointer', `page ${p} of cpu${cpu} maps pfn ${pfn}, which is not allocated`);
        else if (this.pageIndex(pfn) !== chunk) pushFailure(out, seq, 'back-pointer', `pfn ${pfn} (page ${p} of cpu${cpu}) points to w[${this.pageIndex(pfn)}], not to its chunk`);
      }
    }
  }

  /** Everything: lists, every chunk, the first chunk. */
  checkAll(): InvariantFailure[] {
    const w = this.w, L = this.L;
    const out: InvariantFailure[] = [];
    const onList = new Map<number, number>();
    const nrSlots = this.g(PC.NR_SLOTS);
    const reserved = this.g(PC.RESERVED_CHUNK);
    for (let s = 0; s < nrSlots; s++) {
      const head = L.slots + s * 2;
      let n = 0;
      for (let pos = head; ; ) {
        const next = w[pos]!;
        if (w[next + 1] !== pos) {
          out.push({ invariant: 'list-links', chunk: -1, message: `pcpu_slot[${s}]: node w[${next}]->prev does not point back to w[${pos}]` });
          break;
        }
        if (next === head) break;
        if (!this.isChunk(next)) {
          const d = next - L.slots;
          const hs = d >= 0 && d < nrSlots * 2 && (d & 1) === 0 ? d >> 1 : -1;
          out.push({ invariant: 'list-links', chunk: -1, message: `pcpu_slot[${s}] links to w[${next}], which is ${hs >= 0 ? `the head of pcpu_slot[${hs}]` : 'not a chunk'}` });
          break;
        }
        if (++n > MAX_WALK) {
          out.push({ invariant: 'list-links', chunk: -1, message: `pcpu_slot[${s}] does not come back to its head` });
          break;
        }
        if (onList.has(next)) out.push({ invariant: 'one-list', chunk: this.seq(next), message: `chunk ${this.seq(next)} is on pcpu_slot[${onList.get(next)}] and pcpu_slot[${s}]` });
        onList.set(next, s);
        const want = this.slotFor(w[next + C.FREE_SIZE]!, w[next + C.CONTIG_HINT]!);
        if (want !== s && next !== reserved) {
          out.push({ invariant: 'slot', chunk: this.seq(next), message: `chunk ${this.seq(next)} is on pcpu_slot[${s}] but free_size ${w[next + C.FREE_SIZE]}, contig_hint ${w[next + C.CONTIG_HINT]} call for slot ${want}` });
        }
        pos = next;
      }
    }
    const first = this.g(PC.FIRST_CHUNK);
    if (!first) {
      out.push({ invariant: 'first-chunk', chunk: -1, message: 'pcpu_first_chunk is NULL' });
      return out;
    }
    if (reserved && onList.has(reserved)) {
      out.push({ invariant: 'one-list', chunk: this.seq(reserved), message: `the reserved chunk is on pcpu_slot[${onList.get(reserved)}]` });
    }
    if (!onList.has(first) && first !== reserved) out.push({ invariant: 'one-list', chunk: this.seq(first), message: 'the first chunk is on no slot list' });
    this.checkFirstChunk(out);
    for (const c of onList.keys()) this.checkChunk(c, out);
    if (reserved) this.checkChunk(reserved, out);
    this.checkBackPointers(onList, out);
    return out;
  }

  protected checkFirstChunk(out: InvariantFailure[]): void {
    const w = this.w, L = this.L;
    const unitPages = this.g(PC.UNIT_PAGES);
    for (const c of [this.g(PC.FIRST_CHUNK), this.g(PC.RESERVED_CHUNK)]) {
      if (!c) continue;
      if (w[c + C.IMMUTABLE] === 0) out.push({ invariant: 'first-chunk', chunk: this.seq(c), message: `first chunk ${this.seq(c)} is not immutable` });
      for (let p = 0; p < unitPages; p++) {
        if (!this.populatedBit(c, p)) {
          out.push({ invariant: 'first-chunk', chunk: this.seq(c), message: 'first chunk is not fully populated' });
          break;
        }
      }
    }
    const first = this.g(PC.FIRST_CHUNK);
    const base = w[first + C.BASE_ADDR]!;
    const staticSize = this.k.spec.ai.staticSize;
    const pageSize = this.k.spec.cfg.pageSize;
    for (let cpu = 0; cpu < this.k.spec.cfg.cpus; cpu++) {
      for (let off = 0; off < staticSize; off += 61) {
        const addr = base + w[L.unitOff + cpu]! + off;
        // the byte behind the address, through the linear map or the page tables
        const pfn = addr >= L.vmBase ? this.pfnAt(addr) : (addr - L.linBase) >>> this.pageShift;
        const byte = pfn < 0 || pfn >= L.nrPages ? -1 : this.k.shm.b[L.pageData + pfn * pageSize + (addr & (pageSize - 1))]!;
        if (byte !== staticByte(off)) {
          out.push({ invariant: 'first-chunk', chunk: this.seq(first), message: `static area of cpu${cpu} overwritten at offset ${off}` });
          return;
        }
      }
    }
  }

  /** Every mapped page of every chunk points back to its chunk; no page is in two chunks. */
  protected checkBackPointers(onList: Map<number, number>, out: InvariantFailure[]): void {
    if (this.k.spec.cfg.backend !== 'vm') return;
    const unitPages = this.g(PC.UNIT_PAGES);
    for (const c of onList.keys()) {
      if (this.w[c + C.IMMUTABLE] !== 0) continue;
      for (let p = 0; p < unitPages; p++) {
        if (!this.populatedBit(c, p)) continue;
        for (let cpu = 0; cpu < this.k.spec.cfg.cpus; cpu++) {
          const pfn = this.pfnAt(this.chunkAddr(c, cpu, p));
          if (pfn >= 0 && this.pageState(pfn) !== PAGE_BOOTMEM && this.pageIndex(pfn) !== c) {
            out.push({ invariant: 'back-pointer', chunk: this.seq(c), message: `chunk ${this.seq(c)}: pfn ${pfn} (page ${p} of cpu${cpu}) points to w[${this.pageIndex(pfn)}]` });
            return;
          }
        }
      }
    }
  }
}
