// The area map allocator of mm/percpu.c as Linux 4.1 has it. A chunk's map
// is an array of offsets: map[i] is where area i starts, its lowest bit
// set while the area is in use (so offsets are even: pcpu_alloc forces a
// 2-byte alignment and an even size). map[map_used] is the sentry, the end
// of the managed span with the in-use bit set. first_free is a hint: no
// free area starts below it. An atomic allocation may only use populated
// pages (pop_only), and every allocation and free reports how many pages
// the area occupies that are otherwise free (pcpu_count_occupied_pages), so
// that the caller can keep pcpu_nr_empty_pop_pages.
//
// CONTEXT for everything here: pcpu_lock held. Nothing here sleeps or
// allocates; pcpu_need_to_extend may schedule a chunk's map extension work
// (schedule_work never sleeps). A BUG_ON is a fatal 'kernel-bug' violation.

import type { Cpu } from '../../sync/cpu.ts';
import { F } from '../../sync/sites.ts';
import { PCPU_LOCK, type PcpuState } from '../chunk.ts';
import { chunkRelocate, chunkSlot } from '../slots.ts';
import type { Workqueue } from '../../workqueue/workqueue.ts';
import { EARLY_MAP_ENTRIES_41 } from '../records.ts';
import type { Mechanism41Hooks } from './hooks.ts';

export const PCPU_DFL_MAP_ALLOC = 16; // start a map with 16 entries
export const PCPU_ATOMIC_MAP_MARGIN_LOW = 32;
export const PCPU_ATOMIC_MAP_MARGIN_HIGH = 64;
/** The first chunk's boot maps (smap, dmap) and what percpu_init_late copies. */
export const PERCPU_DYNAMIC_EARLY_SLOTS = EARLY_MAP_ENTRIES_41;
const INT_SIZE = 4; // sizeof(int)

/** What the area map functions need of the allocator (src/percpu/4.1/core.ts Percpu is the one). */
export interface AreaMapHost {
  readonly st: PcpuState;
  readonly wq: Workqueue;
  /** The known issues' mechanism recorder (checks on), or null. */
  readonly known: Mechanism41Hooks | null;
  /** *occ_pages_p of pcpu_alloc_area and pcpu_free_area. */
  occPages: number;
  /** ... and the first of those pages (the harness's: which pages, for a fix that needs them). */
  occFirst: number;
}
type Percpu = AreaMapHost;

function bug(cpu: Cpu, fn: string, cond: string): never {
  cpu.report('kernel-bug', `kernel BUG at mm/percpu.c:${fn}!`, `BUG_ON(${cond})`);
  throw new Error('unreachable');
}

/**
 * pcpu_need_to_extend: the map length the chunk needs (0: long enough). An
 * atomic allocation needs room for one more split only, and, once the
 * system runs asynchronous work, asks the chunk's map extension work for
 * more when fewer than PCPU_ATOMIC_MAP_MARGIN_LOW entries are left; any
 * other aims for PCPU_ATOMIC_MAP_MARGIN_HIGH spare entries.
 */
export function needToExtend(p: Percpu, cpu: Cpu, chunk: number, isAtomic: boolean): number {
  const st = p.st;
  let margin: number;
  if (isAtomic) {
    margin = 3;
    if (st.mapAlloc(chunk) < st.mapUsed(chunk) + PCPU_ATOMIC_MAP_MARGIN_LOW && st.asyncEnabled()) p.wq.scheduleWork(cpu, st.extendWork(chunk));
  } else {
    margin = PCPU_ATOMIC_MAP_MARGIN_HIGH;
  }
  return mapLengthFor(st, chunk, margin);
}

/** pcpu_need_to_extend's answer for a margin: 0 when `margin` entries are spare, else the doubled length that leaves them. */
export function mapLengthFor(st: PcpuState, chunk: number, margin: number): number {
  const used = st.mapUsed(chunk);
  if (st.mapAlloc(chunk) >= used + margin) return 0;
  let newAlloc = PCPU_DFL_MAP_ALLOC;
  while (newAlloc < used + margin) newAlloc *= 2;
  return newAlloc;
}

/**
 * pcpu_fit_in_area: the padding after `off` at which `size` bytes aligned
 * at `align` fit in the free area [off, off + thisSize), or -1. With
 * `popOnly`, only where every page the allocation touches is populated:
 * a candidate that meets an unpopulated page retries from the end of the
 * unpopulated run.
 */
export function fitInArea(st: PcpuState, chunk: number, off: number, thisSize: number, size: number, align: number, popOnly: boolean): number {
  const shift = st.pageShift;
  const pageSize = st.pageSize;
  let candOff = off;
  for (;;) {
    const head = ((candOff + align - 1) & ~(align - 1)) - off;
    if (thisSize < head + size) return -1;
    if (!popOnly) return head;
    const pageStart = (head + off) >>> shift;
    const pageEnd = (head + off + size + pageSize - 1) >>> shift;
    // pcpu_next_unpop from page_start, up to the end of the candidate area
    const end = (off + thisSize + pageSize - 1) >>> shift;
    const rs = st.nextPopulated(chunk, end, pageStart, false);
    if (rs >= pageEnd) return head;
    const re = st.nextPopulated(chunk, end, rs + 1, true);
    candOff = re * pageSize;
  }
}

/**
 * pcpu_count_occupied_pages: the pages area i covers, a page it straddles
 * counted only when the rest of that page is free (the first of them in
 * host.occFirst, when given).
 */
export function countOccupiedPages(st: PcpuState, chunk: number, m: number, i: number, host?: { occFirst: number }): number {
  const pageSize = st.pageSize;
  let off = st.entry(chunk, m, i) & ~1;
  let end = st.entry(chunk, m, i + 1) & ~1;
  if ((off & (pageSize - 1)) !== 0 && i > 0) {
    const prev = st.entry(chunk, m, i - 1);
    const down = off & ~(pageSize - 1);
    if (!(prev & 1) && prev <= down) off = down;
  }
  if ((end & (pageSize - 1)) !== 0 && i + 1 < st.mapUsed(chunk)) {
    const next = st.entry(chunk, m, i + 1);
    const nend = st.entry(chunk, m, i + 2) & ~1;
    const up = (end + pageSize - 1) & ~(pageSize - 1);
    if (!(next & 1) && nend >= up) end = up;
  }
  const first = (off + pageSize - 1) >>> st.pageShift;
  if (host) host.occFirst = first;
  return Math.max((end >>> st.pageShift) - first, 0);
}

/**
 * pcpu_alloc_area: first fit of `size` bytes at `align` from first_free on;
 * returns the offset or -1, and leaves the pages the area occupies in
 * p.occPages. The map must have at least two free entries. Relocates the
 * chunk, and refreshes contig_hint (exactly when the scan reached the end).
 */
export function allocArea(p: Percpu, cpu: Cpu, chunk: number, size: number, align: number, popOnly: boolean): number {
  return allocAreaWith(p, cpu, chunk, size, align, popOnly, false);
}

/** pcpu_alloc_area; `firstHeadSplit`: a head before area 0 is split off (fix alloc-area-first-head), where 4.1 merges it into map[-1]. */
export function allocAreaWith(p: Percpu, cpu: Cpu, chunk: number, size: number, align: number, popOnly: boolean, firstHeadSplit: boolean): number {
  const st = p.st;
  cpu.enter(F.pcpu_alloc_area);
  st.assertLocks(cpu, PCPU_LOCK);
  const oslot = chunkSlot(st, chunk);
  const m = st.map(chunk);
  let maxContig = 0;
  let seenFree = false;
  // map_used does not change while the loop scans (a split returns at once)
  const used = st.mapUsed(chunk);
  for (let i = st.firstFree(chunk); i < used; i++) {
    let off = st.entry(chunk, m, i);
    if (off & 1) continue;
    let thisSize = (st.entry(chunk, m, i + 1) & ~1) - off;
    let head = fitInArea(st, chunk, off, thisSize, size, align, popOnly);
    if (head < 0) {
      if (!seenFree) {
        st.setFirstFree(chunk, i);
        seenFree = true;
      }
      maxContig = Math.max(thisSize, maxContig);
      continue;
    }
    // a small head, or one after a free area, is merged into the area before it
    // (at i = 0 there is none: 4.1 reads map[-1])
    if (head && i === 0) p.known?.headBeforeMap(cpu, chunk);
    if (head && !(firstHeadSplit && i === 0) && (head < INT_SIZE || !(st.entry(chunk, m, i - 1) & 1))) {
      off += head;
      st.setEntry(chunk, m, i, off);
      if (st.entry(chunk, m, i - 1) & 1) st.setFreeSize(chunk, st.freeSize(chunk) - head);
      else maxContig = Math.max(off - st.entry(chunk, m, i - 1), maxContig);
      thisSize -= head;
      head = 0;
    }
    // a tail too small to hold an int stays inside the allocation
    let tail = thisSize - head - size;
    if (tail < INT_SIZE) {
      tail = 0;
      size = thisSize - head;
    }
    // split: the new entries go in after map[i] (the sentry moves too)
    if (head || tail) {
      const nrExtra = (head ? 1 : 0) + (tail ? 1 : 0);
      st.moveEntries(chunk, m, i + 1 + nrExtra, i + 1, used - i);
      st.setMapUsed(chunk, used + nrExtra);
      if (head) {
        if (!seenFree) {
          st.setFirstFree(chunk, i);
          seenFree = true;
        }
        off += head;
        i++;
        st.setEntry(chunk, m, i, off);
        maxContig = Math.max(head, maxContig);
      }
      if (tail) {
        st.setEntry(chunk, m, i + 1, off + size);
        maxContig = Math.max(tail, maxContig);
      }
    }
    if (!seenFree) st.setFirstFree(chunk, i + 1);
    if (i + 1 === st.mapUsed(chunk)) st.setContigHint(chunk, maxContig); // fully scanned
    else st.setContigHint(chunk, Math.max(st.contigHint(chunk), maxContig));
    st.setFreeSize(chunk, st.freeSize(chunk) - size);
    st.setEntry(chunk, m, i, off | 1);
    p.occPages = countOccupiedPages(st, chunk, m, i, p);
    chunkRelocate(st, chunk, oslot);
    cpu.leave();
    return off;
  }
  st.setContigHint(chunk, maxContig); // fully scanned
  chunkRelocate(st, chunk, oslot);
  cpu.leave();
  return -1;
}

/**
 * pcpu_free_area: free the area at `freeme` (found by binary search of the
 * in-use offset), merge it with free neighbours, and leave the pages it
 * occupied in p.occPages.
 */
export function freeArea(p: Percpu, cpu: Cpu, chunk: number, freeme: number): void {
  const st = p.st;
  cpu.enter(F.pcpu_free_area);
  st.assertLocks(cpu, PCPU_LOCK);
  const oslot = chunkSlot(st, chunk);
  const m = st.map(chunk);
  let off = 0;
  const want = freeme | 1; // searching for <offset, in use>
  let i = 0;
  let j = st.mapUsed(chunk);
  while (i !== j) {
    const k = (i + j) >>> 1;
    off = st.entry(chunk, m, k);
    if (off < want) i = k + 1;
    else if (off > want) j = k;
    else i = j = k;
  }
  if (off !== want) bug(cpu, 'pcpu_free_area', `off != freeme (${freeme} is not the start of an area in use)`);
  if (i < st.firstFree(chunk)) st.setFirstFree(chunk, i);
  off &= ~1;
  st.setEntry(chunk, m, i, off);
  st.setFreeSize(chunk, st.freeSize(chunk) + (st.entry(chunk, m, i + 1) & ~1) - off);
  p.occPages = countOccupiedPages(st, chunk, m, i, p);
  let toFree = 0;
  // merge with the next area? with the previous one?
  if (!(st.entry(chunk, m, i + 1) & 1)) toFree++;
  if (i > 0 && !(st.entry(chunk, m, i - 1) & 1)) {
    toFree++;
    i--;
  }
  if (toFree) {
    const used = st.mapUsed(chunk) - toFree;
    st.setMapUsed(chunk, used);
    st.moveEntries(chunk, m, i + 1, i + 1 + toFree, used - i);
  }
  st.setContigHint(chunk, Math.max(st.entry(chunk, m, i + 1) - st.entry(chunk, m, i) - 1, st.contigHint(chunk)));
  chunkRelocate(st, chunk, oslot);
  cpu.leave();
}

/**
 * pcpu_chunk_populated: pages [start, end) were populated; count them in
 * the chunk and as empty populated pages. CONTEXT: pcpu_lock.
 */
export function chunkPopulated(p: Percpu, cpu: Cpu, chunk: number, start: number, end: number): void {
  const st = p.st;
  const nr = end - start;
  cpu.enter(F.pcpu_chunk_populated);
  st.assertLocks(cpu, PCPU_LOCK);
  st.setPopulatedBits(cpu, chunk, start, nr, true);
  st.setNrPopulated(chunk, st.nrPopulated(chunk) + nr);
  const before = st.nrEmptyPopPages();
  p.known?.countStored(cpu, before, st.setNrEmptyPopPages(before + nr));
  cpu.leave();
}

/** pcpu_chunk_depopulated: pages [start, end) were depopulated. CONTEXT: pcpu_lock. */
export function chunkDepopulated(p: Percpu, cpu: Cpu, chunk: number, start: number, end: number): void {
  const st = p.st;
  const nr = end - start;
  cpu.enter(F.pcpu_chunk_depopulated);
  st.assertLocks(cpu, PCPU_LOCK);
  st.setPopulatedBits(cpu, chunk, start, nr, false);
  st.setNrPopulated(chunk, st.nrPopulated(chunk) - nr);
  const before = st.nrEmptyPopPages();
  p.known?.countStored(cpu, before, st.setNrEmptyPopPages(before - nr));
  cpu.leave();
}
