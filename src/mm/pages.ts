// The emulated page-frame allocator: page descriptors (state, the `index`
// field percpu uses as the page -> chunk back-pointer, order) and page
// contents in the byte region. Next-fit allocation delays reuse; freed pages
// are filled with PAGE_POISON and checked when handed out again.

import type { Shm } from '../shm/layout.ts';
import { MM, PAGE_ALLOCATED, PAGE_BOOTMEM, PAGE_FREED, PAGE_NEVER_USED, PAGE_POISON, PG } from './records.ts';
import { rawLock, rawUnlock } from '../sync/raw.ts';

const POISON_WORD = (PAGE_POISON * 0x01010101) | 0;

/**
 * Reset the page pool from page `from` on: those pages back to never-used and
 * zero. Only pages below the high-water mark can have been used, and only
 * used ones need clearing (a never-used page is still zero), which keeps
 * re-booting for the next short run cheap.
 */
export function pagesInit(shm: Shm, from = 0): void {
  const { w, L } = shm;
  const words = pageSizeOf(shm) >> 2;
  const hwm = Math.min(Math.max(w[L.mm + MM.PAGE_HWM]!, w[L.mm + MM.PAGE_CURSOR]!), L.nrPages);
  for (let pfn = from; pfn < hwm; pfn++) {
    const d = L.pageDesc + pfn * PG.SIZE;
    if (w[d] === PAGE_NEVER_USED) continue;
    const at = (L.pageData >> 2) + pfn * words;
    w.fill(0, at, at + words);
    w.fill(0, d, d + PG.SIZE);
  }
  w[L.mm + MM.PAGE_CURSOR] = from;
  w[L.mm + MM.PAGE_HWM] = from;
  w[L.mm + MM.PAGES_USED] = 0;
}

export function pageSizeOf(shm: Shm): number {
  return (shm.b.length - shm.L.pageData) / shm.L.nrPages;
}

export function pageByteOffset(shm: Shm, pfn: number): number {
  return shm.L.pageData + pfn * pageSizeOf(shm);
}

export const PAGES_EXHAUSTED = -1;

/**
 * Allocate 2^order contiguous page frames; returns the first pfn, or
 * PAGES_EXHAUSTED. `poisonBroken` is set when a reused page had been written
 * after it was freed.
 */
export function pageAlloc(shm: Shm, order: number, out: { poisonBroken: number }): number {
  const { w, L } = shm;
  const n = 1 << order;
  rawLock(w, L.mm + MM.PAGE_LOCK);
  const start = w[L.mm + MM.PAGE_CURSOR]!;
  let found = -1;
  for (let k = 0; k < L.nrPages && found < 0; k++) {
    const pfn = (start + k) % L.nrPages;
    if (pfn + n > L.nrPages) continue;
    let i = 0;
    for (; i < n; i++) {
      const st = w[L.pageDesc + (pfn + i) * PG.SIZE];
      if (st === PAGE_ALLOCATED || st === PAGE_BOOTMEM) break;
    }
    if (i === n) found = pfn;
  }
  if (found < 0) {
    rawUnlock(w, L.mm + MM.PAGE_LOCK);
    return PAGES_EXHAUSTED;
  }
  out.poisonBroken = -1;
  for (let i = 0; i < n; i++) {
    const d = L.pageDesc + (found + i) * PG.SIZE;
    if (w[d] === PAGE_FREED && out.poisonBroken < 0 && !poisonIntact(shm, found + i)) out.poisonBroken = found + i;
    w[d + PG.STATE] = PAGE_ALLOCATED;
    w[d + PG.INDEX] = 0;
    w[d + PG.ORDER] = i === 0 ? order : -1;
  }
  w[L.mm + MM.PAGE_CURSOR] = (found + n) % L.nrPages;
  if (found + n > w[L.mm + MM.PAGE_HWM]!) w[L.mm + MM.PAGE_HWM] = found + n;
  w[L.mm + MM.PAGES_USED] = w[L.mm + MM.PAGES_USED]! + n;
  rawUnlock(w, L.mm + MM.PAGE_LOCK);
  return found;
}

function poisonIntact(shm: Shm, pfn: number): boolean {
  const at = pageByteOffset(shm, pfn) >> 2;
  const end = at + (pageSizeOf(shm) >> 2);
  for (let i = at; i < end; i++) if (shm.w[i] !== POISON_WORD) return false;
  return true;
}

export const PFREE_OK = 0;
export const PFREE_DOUBLE = 1;
export const PFREE_BAD = 2;

/** Free 2^order pages starting at pfn; poisons them. */
export function pageFree(shm: Shm, pfn: number, order: number): number {
  const { w, b, L } = shm;
  const n = 1 << order;
  if (pfn < 0 || pfn + n > L.nrPages) return PFREE_BAD;
  rawLock(w, L.mm + MM.PAGE_LOCK);
  for (let i = 0; i < n; i++) {
    const st = w[L.pageDesc + (pfn + i) * PG.SIZE];
    if (st !== PAGE_ALLOCATED) {
      rawUnlock(w, L.mm + MM.PAGE_LOCK);
      return st === PAGE_FREED || st === PAGE_NEVER_USED ? PFREE_DOUBLE : PFREE_BAD;
    }
  }
  for (let i = 0; i < n; i++) {
    const d = L.pageDesc + (pfn + i) * PG.SIZE;
    w[d + PG.STATE] = PAGE_FREED;
    w[d + PG.INDEX] = 0;
    w[d + PG.ORDER] = 0;
  }
  const at = pageByteOffset(shm, pfn);
  b.fill(PAGE_POISON, at, at + n * pageSizeOf(shm));
  w[L.mm + MM.PAGES_USED] = w[L.mm + MM.PAGES_USED]! - n;
  rawUnlock(w, L.mm + MM.PAGE_LOCK);
  return PFREE_OK;
}

/** Reserve pages for boot memory (the embedded first chunk): never freed. */
export function pageReserveBoot(shm: Shm, n: number): number {
  const { w, L } = shm;
  const start = w[L.mm + MM.PAGE_CURSOR]!;
  if (start + n > L.nrPages) return PAGES_EXHAUSTED;
  for (let i = 0; i < n; i++) w[L.pageDesc + (start + i) * PG.SIZE] = PAGE_BOOTMEM;
  w[L.mm + MM.PAGE_CURSOR] = start + n;
  if (start + n > w[L.mm + MM.PAGE_HWM]!) w[L.mm + MM.PAGE_HWM] = start + n;
  return start;
}

export function pageState(shm: Shm, pfn: number): number {
  return shm.w[shm.L.pageDesc + pfn * PG.SIZE]!;
}

export function pageIndex(shm: Shm, pfn: number): number {
  return shm.w[shm.L.pageDesc + pfn * PG.SIZE + PG.INDEX]!;
}

export function setPageIndex(shm: Shm, pfn: number, chunk: number): void {
  shm.w[shm.L.pageDesc + pfn * PG.SIZE + PG.INDEX] = chunk;
}

export function pagesUsed(shm: Shm): number {
  return shm.w[shm.L.mm + MM.PAGES_USED]!;
}
