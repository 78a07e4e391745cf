// Kernel-memory backed chunks (mm/percpu-km.c, Linux 4.1, for nommu): a
// chunk is one contiguous run of pages allocated up front, so population and
// depopulation do nothing, and pcpu_create_chunk counts the whole allocation
// as populated (pcpu_chunk_populated of every page of the group, under
// pcpu_lock). All units must be in one group.

import type { Cpu } from '../../sync/cpu.ts';
import { Lock } from '../../sync/locks.ts';
import { F } from '../../sync/sites.ts';
import { allocPages, freePages } from '../../mm/kernel-api.ts';
import type { AddrToPfn } from '../allocator.ts';
import type { Percpu } from './core.ts';

/** The pages of one chunk: the group's size, and the allocation order that holds them (order_base_2). */
export function chunkPages(p: Percpu): { nrPages: number; order: number } {
  const nrPages = p.st.groupSize(0) >>> p.st.pageShift;
  return { nrPages, order: 32 - Math.clz32(Math.max(nrPages - 1, 0)) };
}

/** pcpu_populate_chunk (percpu-km): nothing to do. */
export function populateChunk(): number {
  return 0;
}

/** pcpu_depopulate_chunk (percpu-km): nothing to do. */
export function depopulateChunk(): void {}

/** pcpu_create_chunk (percpu-km): a chunk record over one allocation of the group's pages, all of them marked populated. */
export function createChunk(p: Percpu, cpu: Cpu): number {
  return createChunkMarking(p, cpu, chunkPages(p).nrPages);
}

/** pcpu_create_chunk, marking pages [0, `populated`) populated (4.1: the group's pages; fix km-populated-unit: a unit's). */
export function createChunkMarking(p: Percpu, cpu: Cpu, populated: number): number {
  const st = p.st;
  const { nrPages, order } = chunkPages(p);
  cpu.enter(F.pcpu_create_chunk);
  const chunk = p.ops.allocChunk(p, cpu);
  if (chunk === 0) {
    cpu.leave();
    return 0;
  }
  const pfn = allocPages(cpu, order);
  if (pfn < 0) {
    p.freeChunk(cpu, chunk);
    cpu.leave();
    return 0;
  }
  for (let i = 0; i < nrPages; i++) st.setPageChunk(pfn + i, chunk);
  st.setCreated(chunk, pfn + 1, st.L.linBase + pfn * st.pageSize - st.groupOffset(0));
  cpu.spinLockIrq(Lock.pcpu_lock);
  p.known?.kmPopulated(cpu, chunk, populated);
  p.ops.chunkPopulated(p, cpu, chunk, 0, populated);
  cpu.spinUnlockIrq(Lock.pcpu_lock);
  cpu.leave();
  return chunk;
}

/** pcpu_destroy_chunk (percpu-km): free the pages and the record. */
export function destroyChunk(p: Percpu, cpu: Cpu, chunk: number): void {
  const st = p.st;
  cpu.enter(F.pcpu_destroy_chunk);
  const pfn = st.data(chunk) - 1;
  if (pfn >= 0) freePages(cpu, pfn, chunkPages(p).order);
  p.freeChunk(cpu, chunk);
  cpu.leave();
}

/** pcpu_addr_to_page (percpu-km): virt_to_page. */
export class KmPageLookup implements AddrToPfn {
  constructor(private readonly p: Percpu) {}
  addrToPfn(addr: number): number {
    const L = this.p.st.L;
    const pfn = (addr - L.linBase) >>> this.p.st.pageShift;
    return addr >= L.linBase && pfn < L.nrPages ? pfn : -1;
  }
}
