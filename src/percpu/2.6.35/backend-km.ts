// Kernel-memory backed chunks (mm/percpu-km.c, for nommu): a chunk is one
// contiguous run of pages allocated up front, so populate and depopulate do
// nothing. All units must be in one group.

import type { Cpu } from '../../sync/cpu.ts';
import { F } from '../../sync/sites.ts';
import { allocPages, freePages } from '../../mm/kernel-api.ts';
import { MUTEX, PCPU_LOCK, type PcpuState } from '../chunk.ts';
import type { ChunkBackend, ChunkRecords } from '../backend.ts';
import type { Percpu } from './core.ts';

export class KmBackend implements ChunkBackend {
  private readonly order: number;
  private readonly nrPages: number;
  private readonly st: PcpuState;

  constructor(private readonly p: Percpu, private readonly rec: ChunkRecords) {
    this.st = p.st;
    this.nrPages = this.st.groupSize(0) >>> this.st.pageShift;
    this.order = 32 - Math.clz32(Math.max(this.nrPages - 1, 0)); // order_base_2
  }

  /**
   * A no-op, as in 2.6.35: nothing clears the area, so percpu-km hands out
   * memory a previous user left behind (a known issue, km-unzeroed; later
   * kernels clear the area in pcpu_alloc for every backend).
   */
  populate(cpu: Cpu, chunk: number, off: number, size: number): number {
    this.st.assertLocks(cpu, MUTEX, PCPU_LOCK);
    this.p.known?.kmHandedOut(cpu, chunk, off, size);
    return 0;
  }

  depopulate(): void {}

  create(cpu: Cpu): number {
    cpu.enter(F.pcpu_create_chunk);
    this.st.assertLocks(cpu, MUTEX, PCPU_LOCK);
    const chunk = this.rec.allocChunk(cpu);
    if (chunk === 0) {
      cpu.leave();
      return 0;
    }
    const pfn = allocPages(cpu, this.order);
    if (pfn < 0) {
      this.rec.freeChunk(cpu, chunk);
      cpu.leave();
      return 0;
    }
    for (let i = 0; i < this.nrPages; i++) this.st.setPageChunk(pfn + i, chunk);
    this.st.setCreated(chunk, pfn + 1, this.st.L.linBase + pfn * this.st.pageSize - this.st.groupOffset(0));
    cpu.leave();
    return chunk;
  }

  destroy(cpu: Cpu, chunk: number): void {
    cpu.enter(F.pcpu_destroy_chunk);
    this.st.assertLocks(cpu, MUTEX, PCPU_LOCK);
    const pfn = this.st.data(chunk) - 1;
    if (pfn >= 0) freePages(cpu, pfn, this.order);
    this.rec.freeChunk(cpu, chunk);
    cpu.leave();
  }

  addrToPfn(addr: number): number {
    const pfn = (addr - this.st.L.linBase) >>> this.st.pageShift;
    return addr >= this.st.L.linBase && pfn < this.st.L.nrPages ? pfn : -1;
  }
}
