// vmalloc-area backed chunks (mm/percpu-vm.c, Linux 4.1): a chunk is
// reserved address space; pages are allocated, mapped and freed a range at a
// time, and the core keeps the chunk's populated bitmap and counts
// (pcpu_chunk_populated). Population and depopulation share ONE temporary
// pages array (pcpu_get_pages), which pcpu_alloc_mutex must serialize; a
// single-owner check on it catches a caller that does not hold it.
//
// CONTEXT: pcpu_alloc_mutex; the population functions do GFP_KERNEL
// allocations.

import type { Cpu } from '../../sync/cpu.ts';
import { F } from '../../sync/sites.ts';
import { Tag } from '../../mm/heap.ts';
import { allocPages, freePages, freeVmArea, getVmArea, mapPage } from '../../mm/kernel-api.ts';
import { vmToPfn, vmUnmapPage } from '../../mm/vm.ts';
import { MUTEX, PCPU_LOCK } from '../chunk.ts';
import { memAlloc } from '../mem.ts';
import type { Percpu } from './core.ts';
import type { AddrToPfn } from '../allocator.ts';

const ENOMEM = -12;

/** pcpu_page_idx: (cpu, page) in the temp pages array. */
export function pageIdx(p: Percpu, cpuNr: number, page: number): number {
  return p.st.unitMap(cpuNr) * p.st.unitPages + page;
}

/** pcpu_get_pages: the one temp pages array, allocated on first use and never freed. */
function getPages(p: Percpu, cpu: Cpu): number {
  const st = p.st;
  cpu.enter(F.pcpu_get_pages);
  st.assertLocks(cpu, MUTEX);
  // pcpu_nr_units * pcpu_unit_pages * sizeof(struct page *): 8 bytes an entry on a 64-bit kernel (the emulation uses the first word)
  if (st.tempPages() === 0) st.setTempPages(memAlloc(cpu, st, st.nrUnits * st.unitPages * 8, Tag.TEMP_PAGES));
  const pages = st.tempPages();
  if (pages !== 0) {
    const owner = st.claimTemp(cpu.id);
    if (owner !== 0) {
      cpu.report('temp-buffer-race', 'BUG: percpu: temp pages array used by two CPUs at once',
        `${cpu.name} wants the shared pages array while ${owner - 1 < st.nrCpus ? `cpu${owner - 1}` : 'kworker/0:1'} is using it; ` +
        'its exclusion is the caller\'s job (pcpu_alloc_mutex)');
    }
  }
  cpu.leave();
  return pages;
}

/** The harness's end of a use of the temp pages array (4.1 has no put: its user simply stops). */
function putPages(p: Percpu, cpu: Cpu): void {
  p.st.releaseTemp(cpu.id);
}

/** pcpu_free_pages: free the pages [start, end) of every unit that the array holds. */
function freePagesRange(p: Percpu, cpu: Cpu, pages: number, start: number, end: number): void {
  const st = p.st;
  cpu.enter(F.pcpu_free_pages);
  for (let c = 0; c < st.nrCpus; c++) {
    for (let i = start; i < end; i++) {
      const pfn = st.tempPage(pages, pageIdx(p, c, i)) - 1;
      if (pfn >= 0) freePages(cpu, pfn, 0);
    }
  }
  cpu.leave();
}

/** pcpu_alloc_pages: pages [start, end) for every unit; on failure frees what it allocated. */
function allocPagesRange(p: Percpu, cpu: Cpu, pages: number, start: number, end: number): number {
  const st = p.st;
  cpu.enter(F.pcpu_alloc_pages);
  for (let c = 0; c < st.nrCpus; c++) {
    for (let i = start; i < end; i++) {
      const pfn = allocPages(cpu, 0);
      st.setTempPage(pages, pageIdx(p, c, i), pfn + 1);
      if (pfn < 0) {
        for (let j = i - 1; j >= start; j--) freePages(cpu, st.tempPage(pages, pageIdx(p, c, j)) - 1, 0);
        for (let t = 0; t < c; t++) {
          for (let j = start; j < end; j++) freePages(cpu, st.tempPage(pages, pageIdx(p, t, j)) - 1, 0);
        }
        cpu.leave();
        return ENOMEM;
      }
    }
  }
  cpu.leave();
  return 0;
}

/**
 * pcpu_unmap_pages: for every unit, note the pages mapped at [start, end)
 * in the array (for pcpu_free_pages) and unmap them.
 */
function unmapPages(p: Percpu, cpu: Cpu, chunk: number, pages: number, start: number, end: number): void {
  const st = p.st;
  cpu.enter(F.pcpu_unmap_pages);
  for (let c = 0; c < st.nrCpus; c++) {
    for (let i = start; i < end; i++) {
      // pcpu_chunk_page: must not be used on a pre-mapped chunk
      if (st.immutable(chunk)) cpu.report('kernel-bug', 'WARNING: at mm/percpu-vm.c:pcpu_chunk_page()', 'WARN_ON(chunk->immutable)', false);
      const addr = p.chunkAddr(chunk, c, i);
      const pfn = vmToPfn(st.shm, addr, st.pageShift);
      if (pfn < 0) cpu.report('kernel-bug', 'WARNING: at mm/percpu-vm.c:pcpu_unmap_pages()', `WARN_ON(!page): no page mapped at ${addr.toString(16)}`, false);
      st.setTempPage(pages, pageIdx(p, c, i), pfn + 1);
    }
    unmapRange(p, p.chunkAddr(chunk, c, start), end - start);
  }
  cpu.leave();
}

/** __pcpu_unmap_pages: unmap_kernel_range_noflush of `n` pages. */
export function unmapRange(p: Percpu, addr: number, n: number): void {
  for (let i = 0; i < n; i++) vmUnmapPage(p.st.shm, addr + i * p.st.pageSize, p.st.pageShift);
}

/**
 * pcpu_map_pages as 4.1 has it: map every unit's pages of [start, end) and
 * point each page back to the chunk; when a unit fails, unmap the units
 * before it. What map_kernel_range_noflush mapped of the failing unit before
 * it failed stays mapped.
 */
export function mapPages(p: Percpu, cpu: Cpu, chunk: number, pages: number, start: number, end: number): number {
  return mapPagesUnwinding(p, cpu, chunk, pages, start, end, false);
}

/** pcpu_map_pages; `failingToo`: a failure unmaps the failing unit's pages mapped so far too (fix map-pages-unwind-all), not only the units before it. */
export function mapPagesUnwinding(p: Percpu, cpu: Cpu, chunk: number, pages: number, start: number, end: number, failingToo: boolean): number {
  const st = p.st;
  cpu.enter(F.pcpu_map_pages);
  for (let c = 0; c < st.nrCpus; c++) {
    // __pcpu_map_pages: map_kernel_range_noflush, which stops at the first page it cannot map
    let err = 0;
    let i = start;
    for (; i < end && !err; i++) err = mapPage(cpu, p.chunkAddr(chunk, c, i), st.tempPage(pages, pageIdx(p, c, i)) - 1, st.pageShift);
    if (err < 0) {
      // pages [start, i - 1) of unit c are mapped
      if (failingToo) unmapRange(p, p.chunkAddr(chunk, c, start), i - 1 - start);
      else p.known?.mapPagesLeftMapped(cpu, chunk, c, start, i - 1, err);
      // (then pcpu_post_unmap_tlb_flush: nothing to flush in the emulation)
      for (let t = 0; t < c; t++) unmapRange(p, p.chunkAddr(chunk, t, start), end - start);
      cpu.leave();
      return err;
    }
    for (let j = start; j < end; j++) st.setPageChunk(st.tempPage(pages, pageIdx(p, c, j)) - 1, chunk);
  }
  cpu.leave();
  return 0;
}

/** pcpu_populate_chunk (percpu-vm): allocate and map pages [start, end) of every unit. */
export function populateChunk(p: Percpu, cpu: Cpu, chunk: number, start: number, end: number): number {
  const st = p.st;
  cpu.enter(F.pcpu_populate_chunk);
  st.assertLocks(cpu, MUTEX, PCPU_LOCK);
  const pages = getPages(p, cpu);
  let rc = 0;
  if (pages === 0) rc = ENOMEM;
  else if (allocPagesRange(p, cpu, pages, start, end)) rc = ENOMEM;
  else if (p.ops.mapPages(p, cpu, chunk, pages, start, end)) {
    freePagesRange(p, cpu, pages, start, end);
    rc = ENOMEM;
  }
  if (pages !== 0) putPages(p, cpu);
  cpu.leave();
  return rc;
}

/** pcpu_depopulate_chunk (percpu-vm): unmap and free pages [start, end) of every unit. */
export function depopulateChunk(p: Percpu, cpu: Cpu, chunk: number, start: number, end: number): void {
  const st = p.st;
  cpu.enter(F.pcpu_depopulate_chunk);
  st.assertLocks(cpu, MUTEX, PCPU_LOCK);
  // a population succeeded before, so the temp pages array exists
  const pages = getPages(p, cpu);
  if (pages === 0) cpu.report('kernel-bug', 'kernel BUG at mm/percpu-vm.c:pcpu_depopulate_chunk!', 'BUG_ON(!pages)');
  unmapPages(p, cpu, chunk, pages, start, end);
  freePagesRange(p, cpu, pages, start, end);
  putPages(p, cpu);
  cpu.leave();
}

/** pcpu_create_chunk (percpu-vm): a chunk record and its congruent vm areas. */
export function createChunk(p: Percpu, cpu: Cpu): number {
  const st = p.st;
  cpu.enter(F.pcpu_create_chunk);
  const chunk = p.ops.allocChunk(p, cpu);
  if (chunk === 0) {
    cpu.leave();
    return 0;
  }
  const base = getVmArea(cpu);
  if (base === 0) {
    p.freeChunk(cpu, chunk);
    cpu.leave();
    return 0;
  }
  st.setCreated(chunk, base, base - st.groupOffset(0));
  cpu.leave();
  return chunk;
}

/** pcpu_destroy_chunk (percpu-vm): release the vm areas and the record. */
export function destroyChunk(p: Percpu, cpu: Cpu, chunk: number): void {
  const st = p.st;
  cpu.enter(F.pcpu_destroy_chunk);
  const base = st.data(chunk);
  if (base) freeVmArea(cpu, base, st.L.vmSlotSpan, st.pageShift);
  p.freeChunk(cpu, chunk);
  cpu.leave();
}

/** pcpu_addr_to_page (percpu-vm): vmalloc_to_page. */
export class VmPageLookup implements AddrToPfn {
  constructor(private readonly p: Percpu) {}
  addrToPfn(addr: number): number {
    return vmToPfn(this.p.st.shm, addr, this.p.st.pageShift);
  }
}
