// vmalloc-area backed chunks (mm/percpu-vm.c): a chunk is reserved address
// space; pages are allocated and mapped on demand and tracked in the
// chunk's populated bitmap. Populate and depopulate share ONE temporary
// pages array and bitmap; keeping two users apart is the caller's job
// (pcpu_alloc_mutex). A single-owner check on that buffer catches a caller
// that does not do its job.

import type { Cpu } from '../../sync/cpu.ts';
import { F } from '../../sync/sites.ts';
import { Tag } from '../../mm/heap.ts';
import { allocPages, freePages, freeVmArea, getVmArea, mapPage } from '../../mm/kernel-api.ts';
import { vmToPfn, vmUnmapPage } from '../../mm/vm.ts';
import { MUTEX, PCPU_LOCK, type PcpuState } from '../chunk.ts';
import { ENOMEM, type ChunkBackend, type ChunkRecords, type VmPages } from '../backend.ts';
import type { Percpu } from './core.ts';
import { memAlloc } from '../mem.ts';
import { clearRange } from '../access.ts';

export class VmBackend implements ChunkBackend, VmPages {
  readonly st: PcpuState;
  constructor(readonly p: Percpu, readonly rec: ChunkRecords) {
    this.st = p.st;
  }

  get known(): Percpu['known'] {
    return this.p.known;
  }

  /** Index of (cpu, page) in the temp pages array. */
  pageIdx(cpuNr: number, page: number): number {
    return this.st.unitMap(cpuNr) * this.st.unitPages + page;
  }

  /**
   * pcpu_get_pages_and_bitmap: the shared temp array (cleared) and bitmap
   * (a copy of the chunk's). Allocated on first use, never freed.
   */
  private getPagesAndBitmap(cpu: Cpu, chunk: number, mayAlloc: boolean): number {
    const st = this.st;
    cpu.enter(F.pcpu_get_pages_and_bitmap);
    st.assertLocks(cpu, MUTEX);
    const pagesWords = st.nrUnits * st.unitPages;
    if (st.tempPages() === 0 || st.tempBitmap() === 0) {
      if (mayAlloc && st.tempPages() === 0) st.setTempPages(memAlloc(cpu, st, pagesWords * 4, Tag.TEMP_PAGES));
      if (mayAlloc && st.tempBitmap() === 0) st.setTempBitmap(memAlloc(cpu, st, st.L.bitmapWords * 4, Tag.TEMP_BITMAP));
      if (st.tempPages() === 0 || st.tempBitmap() === 0) {
        cpu.leave();
        return 0;
      }
    }
    const owner = st.claimTemp(cpu.id);
    if (owner !== 0) {
      cpu.report('temp-buffer-race', 'BUG: percpu: temp pages array and bitmap used by two CPUs at once',
        `${cpu.name} wants the shared populate buffer while ${owner - 1 < st.nrCpus ? `cpu${owner - 1}` : 'kworker/0:1'} is using it; ` +
        'its exclusion is the caller\'s job (pcpu_alloc_mutex)');
    }
    const pages = st.tempPages();
    st.clearTempPages(pages, pagesWords);
    st.populatedToTemp(chunk, st.tempBitmap());
    cpu.leave();
    return pages;
  }

  private putPagesAndBitmap(cpu: Cpu): void {
    this.st.releaseTemp(cpu.id);
  }

  private freePagesRange(cpu: Cpu, pages: number, start: number, end: number): void {
    cpu.enter(F.pcpu_free_pages);
    for (let c = 0; c < this.st.nrCpus; c++) {
      for (let i = start; i < end; i++) {
        const pfn = this.st.tempPage(pages, this.pageIdx(c, i)) - 1;
        if (pfn >= 0) freePages(cpu, pfn, 0);
      }
    }
    cpu.leave();
  }

  private allocPagesRange(cpu: Cpu, pages: number, start: number, end: number): number {
    cpu.enter(F.pcpu_alloc_pages);
    for (let c = 0; c < this.st.nrCpus; c++) {
      for (let i = start; i < end; i++) {
        const pfn = allocPages(cpu, 0);
        this.st.setTempPage(pages, this.pageIdx(c, i), pfn + 1);
        if (pfn < 0) {
          this.freePagesRange(cpu, pages, start, end);
          cpu.leave();
          return ENOMEM;
        }
      }
    }
    cpu.leave();
    return 0;
  }

  private unmapPages(cpu: Cpu, chunk: number, pages: number, bitmap: number, start: number, end: number): void {
    const st = this.st;
    cpu.enter(F.pcpu_unmap_pages);
    for (let c = 0; c < st.nrCpus; c++) {
      for (let i = start; i < end; i++) {
        const addr = this.rec.chunkAddr(chunk, c, i);
        const pfn = vmToPfn(st.shm, addr, st.pageShift);
        if (pfn < 0) cpu.report('kernel-bug', 'WARNING: at mm/percpu-vm.c:pcpu_unmap_pages', `WARN_ON(!page): no page mapped at ${addr.toString(16)}`, false);
        st.setTempPage(pages, this.pageIdx(c, i), pfn + 1);
        vmUnmapPage(st.shm, addr, st.pageShift);
      }
    }
    for (let i = start; i < end; i++) st.setTempBit(bitmap, i, false);
    cpu.leave();
  }

  populate(cpu: Cpu, chunk: number, off: number, size: number): number {
    const st = this.st;
    const pageStart = off >>> st.pageShift;
    const pageEnd = (off + size + st.pageSize - 1) >>> st.pageShift;
    cpu.enter(F.pcpu_populate_chunk);
    st.assertLocks(cpu, MUTEX, PCPU_LOCK);
    // quick path: every page already there
    const first = st.nextPopulated(chunk, pageEnd, pageStart, false);
    if (first < pageEnd) {
      if (st.immutable(chunk)) cpu.report('kernel-bug', 'WARNING: at mm/percpu-vm.c:pcpu_populate_chunk', 'WARN_ON(chunk->immutable)', false);
      const pages = this.getPagesAndBitmap(cpu, chunk, true);
      if (pages === 0) {
        cpu.leave();
        return ENOMEM;
      }
      const bitmap = st.tempBitmap();
      let freeEnd = pageStart;
      let unmapEnd = pageStart;
      let rc = 0;
      for (let rs = st.nextPopulated(chunk, pageEnd, pageStart, false); rs < pageEnd; ) {
        const re = st.nextPopulated(chunk, pageEnd, rs + 1, true);
        rc = this.allocPagesRange(cpu, pages, rs, re);
        if (rc) break;
        freeEnd = re;
        cpu.point(); // between populate steps
        rs = st.nextPopulated(chunk, pageEnd, re + 1, false);
      }
      if (!rc) {
        for (let rs = st.nextPopulated(chunk, pageEnd, pageStart, false); rs < pageEnd; ) {
          const re = st.nextPopulated(chunk, pageEnd, rs + 1, true);
          rc = this.p.ops.mapPages(this, cpu, chunk, pages, bitmap, rs, re);
          if (rc) break;
          unmapEnd = re;
          cpu.point();
          rs = st.nextPopulated(chunk, pageEnd, re + 1, false);
        }
        if (rc) {
          for (let rs = st.nextPopulated(chunk, unmapEnd, pageStart, false); rs < unmapEnd; ) {
            const re = st.nextPopulated(chunk, unmapEnd, rs + 1, true);
            this.unmapPages(cpu, chunk, pages, bitmap, rs, re);
            rs = st.nextPopulated(chunk, unmapEnd, re + 1, false);
          }
        }
      }
      if (rc) {
        for (let rs = st.nextPopulated(chunk, freeEnd, pageStart, false); rs < freeEnd; ) {
          const re = st.nextPopulated(chunk, freeEnd, rs + 1, true);
          this.freePagesRange(cpu, pages, rs, re);
          rs = st.nextPopulated(chunk, freeEnd, re + 1, false);
        }
        this.putPagesAndBitmap(cpu);
        cpu.leave();
        return rc;
      }
      st.populatedFromTemp(chunk, bitmap); // commit the new bitmap
      this.putPagesAndBitmap(cpu);
    }
    // clear the area in every unit
    for (let c = 0; c < st.nrCpus; c++) clearRange(st, cpu, this.rec.chunkAddr(chunk, c, 0) + off, size);
    cpu.leave();
    return 0;
  }

  depopulate(cpu: Cpu, chunk: number, off: number, size: number): void {
    const st = this.st;
    const pageStart = off >>> st.pageShift;
    const pageEnd = (off + size + st.pageSize - 1) >>> st.pageShift;
    cpu.enter(F.pcpu_depopulate_chunk);
    st.assertLocks(cpu, MUTEX, PCPU_LOCK);
    // quick path: nothing populated
    if (st.nextPopulated(chunk, pageEnd, pageStart, true) >= pageEnd) {
      cpu.leave();
      return;
    }
    if (st.immutable(chunk)) cpu.report('kernel-bug', 'WARNING: at mm/percpu-vm.c:pcpu_depopulate_chunk', 'WARN_ON(chunk->immutable)', false);
    const pages = this.getPagesAndBitmap(cpu, chunk, false);
    if (pages === 0) cpu.report('kernel-bug', 'kernel BUG at mm/percpu-vm.c:pcpu_depopulate_chunk!', 'BUG_ON(!pages)');
    const bitmap = st.tempBitmap();
    for (let rs = st.nextPopulated(chunk, pageEnd, pageStart, true); rs < pageEnd; ) {
      const re = st.nextPopulated(chunk, pageEnd, rs + 1, false);
      this.unmapPages(cpu, chunk, pages, bitmap, rs, re);
      cpu.point();
      rs = st.nextPopulated(chunk, pageEnd, re + 1, true);
    }
    for (let rs = st.nextPopulated(chunk, pageEnd, pageStart, true); rs < pageEnd; ) {
      const re = st.nextPopulated(chunk, pageEnd, rs + 1, false);
      this.freePagesRange(cpu, pages, rs, re);
      cpu.point();
      rs = st.nextPopulated(chunk, pageEnd, re + 1, true);
    }
    st.populatedFromTemp(chunk, bitmap);
    this.putPagesAndBitmap(cpu);
    cpu.leave();
  }

  create(cpu: Cpu): number {
    cpu.enter(F.pcpu_create_chunk);
    this.st.assertLocks(cpu, MUTEX, PCPU_LOCK);
    const chunk = this.rec.allocChunk(cpu);
    if (chunk === 0) {
      cpu.leave();
      return 0;
    }
    const base = getVmArea(cpu);
    if (base === 0) {
      this.rec.freeChunk(cpu, chunk);
      cpu.leave();
      return 0;
    }
    this.st.setCreated(chunk, base, base - this.st.groupOffset(0));
    cpu.leave();
    return chunk;
  }

  destroy(cpu: Cpu, chunk: number): void {
    cpu.enter(F.pcpu_destroy_chunk);
    this.st.assertLocks(cpu, MUTEX, PCPU_LOCK);
    const base = this.st.data(chunk);
    if (base) freeVmArea(cpu, base, this.st.L.vmSlotSpan, this.st.pageShift);
    this.rec.freeChunk(cpu, chunk);
    cpu.leave();
  }

  addrToPfn(addr: number): number {
    return vmToPfn(this.st.shm, addr, this.st.pageShift);
  }
}

/**
 * pcpu_map_pages as 2.6.35 has it: map every CPU's pages of [start, end);
 * on a failure, unmap the CPUs before the failing one only. The failing
 * CPU's pages mapped so far stay mapped (a known issue: the error path then
 * frees pages that are still mapped there, and the next populate of that
 * range maps over live PTEs).
 */
export function mapPages(b: VmPages, cpu: Cpu, chunk: number, pages: number, bitmap: number, start: number, end: number): number {
  const st = b.st;
  cpu.enter(F.pcpu_map_pages);
  for (let c = 0; c < st.nrCpus; c++) {
    for (let i = start; i < end; i++) {
      const err = mapPage(cpu, b.rec.chunkAddr(chunk, c, i), st.tempPage(pages, b.pageIdx(c, i)) - 1, st.pageShift);
      if (err) {
        for (let t = 0; t < c; t++) {
          for (let j = start; j < end; j++) vmUnmapPage(st.shm, b.rec.chunkAddr(chunk, t, j), st.pageShift);
        }
        b.known?.mapPagesLeftMapped(cpu, chunk, c, start, i, err);
        cpu.leave();
        return ENOMEM;
      }
    }
  }
  for (let i = start; i < end; i++) {
    for (let c = 0; c < st.nrCpus; c++) st.setPageChunk(st.tempPage(pages, b.pageIdx(c, i)) - 1, chunk);
    st.setTempBit(bitmap, i, true);
  }
  cpu.leave();
  return 0;
}
