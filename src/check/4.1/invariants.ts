// The invariants of Linux 4.1's chunk and accounting state, written from
// 4.1's rules and read raw (nothing here borrows the 4.1 code it checks).
// The slot lists, the first chunk and the pages behind areas in use are
// checked as for every kernel (src/check/invariants.ts); what 4.1 adds:
//
//   map-sentry       offsets start at 0 and rise; map[map_used] is the
//                    sentry, in use, at the end of the chunk's span
//   map-used         map_used < map_alloc (the sentry needs its entry)
//   adjacent-free    no two neighbouring free areas
//   free-size        free_size = the sum of the free areas
//   contig-hint      contig_hint >= the largest free area
//   first-free       no free area below first_free
//   nr-populated     nr_populated = the pages the populated bitmap holds, and
//                    no bit of it past the unit's pages
//   empty-pop-pages  (at quiescence) pcpu_nr_empty_pop_pages = the populated
//                    pages, in chunks on the slot lists other than the
//                    reserved one, that lie in the map's span and that no
//                    area in use touches

import { C, C41, PC, PC41 } from '../../percpu/records.ts';
import { InvariantChecker, pushFailure, type InvariantFailure } from '../invariants.ts';
import type { CheckTarget } from '../target.ts';

const MAX_WALK = 1 << 16;

export class InvariantChecker41 extends InvariantChecker {
  private readonly cx: number;
  private readonly px: number;

  constructor(k: CheckTarget) {
    super(k);
    this.cx = k.shm.L.chunkX;
    this.px = k.shm.L.pcx;
  }

  /** The end of a chunk's span (what its sentry must say): a unit, or the first chunk's areas. */
  private spanEnd(chunk: number): number {
    return this.span(chunk);
  }

  override checkChunk(chunk: number, out: InvariantFailure[] = [], pages = true): InvariantFailure[] {
    const w = this.w;
    const seq = this.seq(chunk);
    const used = w[chunk + C.MAP_USED]!;
    const alloc = w[chunk + C.MAP_ALLOC]!;
    if (used < 1 || used >= alloc) {
      pushFailure(out, seq, 'map-used', `map_used ${used} with map_alloc ${alloc}: the map needs its areas and the sentry`);
      return out;
    }
    const m = w[chunk + C.MAP]!;
    const immutable = w[chunk + C.IMMUTABLE] !== 0;
    const firstFree = w[chunk + this.cx + C41.FIRST_FREE]!;
    if ((w[m]! & ~1) !== 0) pushFailure(out, seq, 'map-sentry', `map[0] is ${w[m]}: the first area must start at offset 0`);
    const sentry = w[m + used]!;
    const end = this.spanEnd(chunk);
    if ((sentry & 1) === 0 || (sentry & ~1) !== end) pushFailure(out, seq, 'map-sentry', `map[${used}] (the sentry) is ${sentry}; it must be ${end | 1}, the end of the chunk's span, in use`);
    let free = 0;
    let largest = 0;
    let prevFree = false;
    for (let i = 0; i < used; i++) {
      const e = w[m + i]!, next = w[m + i + 1]!;
      const len = (next & ~1) - (e & ~1);
      if (len <= 0) {
        pushFailure(out, seq, 'map-sentry', `map[${i}] = ${e} and map[${i + 1}] = ${next}: offsets must rise`);
        return out;
      }
      const isFree = (e & 1) === 0;
      if (isFree) {
        free += len;
        largest = Math.max(largest, len);
        if (prevFree) pushFailure(out, seq, 'adjacent-free', `areas ${i - 1} and ${i} are both free`);
        if (i < firstFree) pushFailure(out, seq, 'first-free', `area ${i} at ${e} is free, below first_free ${firstFree}`);
      } else if (pages && !immutable) {
        this.checkArea(chunk, e & ~1, len, out, seq);
      }
      prevFree = isFree;
    }
    if (firstFree < 0 || firstFree > used) pushFailure(out, seq, 'first-free', `first_free ${firstFree} is outside the map (map_used ${used})`);
    const freeSize = w[chunk + C.FREE_SIZE]!, contig = w[chunk + C.CONTIG_HINT]!;
    if (freeSize !== free) pushFailure(out, seq, 'free-size', `free_size ${freeSize} but the free areas add up to ${free}`);
    if (contig < largest) pushFailure(out, seq, 'contig-hint', `contig_hint ${contig} < largest free area ${largest}`);
    this.checkPopulatedCount(chunk, out, seq);
    return out;
  }

  /** nr_populated against the bitmap, and no bit past the unit. */
  private checkPopulatedCount(chunk: number, out: InvariantFailure[], seq: number): void {
    const w = this.w;
    const unitPages = this.g(PC.UNIT_PAGES);
    let n = 0;
    for (let p = 0; p < unitPages; p++) if (this.populatedBit(chunk, p)) n++;
    const nr = w[chunk + this.cx + C41.NR_POPULATED]!;
    if (nr !== n) pushFailure(out, seq, 'nr-populated', `nr_populated ${nr} but the populated bitmap holds ${n} of the unit's ${unitPages} pages`);
    const bits = this.k.shm.L.bitmapWords * 32;
    for (let p = unitPages; p < bits; p++) {
      if (this.populatedBit(chunk, p)) {
        pushFailure(out, seq, 'nr-populated', `the populated bitmap has bit ${p} set, past the unit's ${unitPages} pages`);
        return;
      }
    }
  }

  /** Empty populated pages of one chunk: populated, inside the map's span, touched by no area in use. */
  emptyPopulatedPages(chunk: number): number {
    const w = this.w;
    const m = w[chunk + C.MAP]!, used = w[chunk + C.MAP_USED]!;
    const ps = this.k.spec.cfg.pageSize;
    const spanEnd = w[m + used]! & ~1;
    let n = 0;
    for (let p = 0; (p + 1) * ps <= spanEnd; p++) {
      if (!this.populatedBit(chunk, p)) continue;
      const lo = p * ps, hi = lo + ps;
      let touched = false;
      for (let i = 0; i < used && !touched; i++) {
        const a = w[m + i]! & ~1, b = w[m + i + 1]! & ~1;
        if ((w[m + i]! & 1) !== 0 && a < hi && b > lo) touched = true;
      }
      if (!touched) n++;
    }
    return n;
  }

  override checkAll(): InvariantFailure[] {
    const out = super.checkAll();
    const w = this.w, L = this.L;
    const reserved = this.g(PC.RESERVED_CHUNK);
    let empty = 0;
    for (let s = 0; s < this.g(PC.NR_SLOTS); s++) {
      const head = L.slots + s * 2;
      for (let pos = w[head]!, n = 0; pos !== head && n < MAX_WALK; pos = w[pos]!, n++) {
        if (!this.isChunk(pos)) return out; // the list walk reported it
        if (pos !== reserved) empty += this.emptyPopulatedPages(pos);
      }
    }
    const counted = w[this.px + PC41.NR_EMPTY_POP_PAGES]!;
    if (counted !== empty) {
      out.push({ invariant: 'empty-pop-pages', chunk: -1, message: `pcpu_nr_empty_pop_pages is ${counted}, but ${empty} populated pages of the chunks on the slot lists are empty` });
    }
    return out;
  }
}
