// Kernel-memory backed chunks (mm/percpu-km.c, for nommu): a chunk is one
// contiguous run of pages allocated up front, so populate and depopulate do
// nothing. All units must be in one group.

import { C } from '../shm/layout.ts';
import type { Cpu } from '../sync/cpu.ts';
import { F } from '../sync/sites.ts';
import { allocPages, freePages } from '../mm/kernel-api.ts';
import { setPageIndex } from '../mm/pages.ts';
import type { PcpuState } from './chunk.ts';
import type { ChunkBackend, ChunkRecords } from './backend.ts';
import { clearRange } from './backend-vm.ts';

export class KmBackend implements ChunkBackend {
  private readonly order: number;
  private readonly nrPages: number;

  constructor(private readonly st: PcpuState, private readonly rec: ChunkRecords) {
    this.nrPages = st.groupSize(0) >>> st.pageShift;
    this.order = 32 - Math.clz32(Math.max(this.nrPages - 1, 0)); // order_base_2
  }

  populate(cpu: Cpu, chunk: number, off: number, size: number): number {
    // The kernel's populate is a no-op here; the area is cleared so that
    // fresh allocations read as zero like with the vm backend.
    for (let c = 0; c < this.st.nrCpus; c++) clearRange(this.st, cpu, this.rec.chunkAddr(chunk, c, 0) + off, size);
    return 0;
  }

  depopulate(): void {}

  create(cpu: Cpu): number {
    cpu.enter(F.pcpu_create_chunk);
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
    for (let i = 0; i < this.nrPages; i++) setPageIndex(this.st.shm, pfn + i, chunk);
    this.st.w[chunk + C.DATA] = pfn + 1;
    this.st.w[chunk + C.BASE_ADDR] = this.st.L.linBase + pfn * this.st.pageSize - this.st.groupOffset(0);
    cpu.leave();
    return chunk;
  }

  destroy(cpu: Cpu, chunk: number): void {
    cpu.enter(F.pcpu_destroy_chunk);
    const pfn = this.st.w[chunk + C.DATA]! - 1;
    if (pfn >= 0) freePages(cpu, pfn, this.order);
    this.rec.freeChunk(cpu, chunk);
    cpu.leave();
  }

  addrToPfn(addr: number): number {
    const pfn = (addr - this.st.L.linBase) >>> this.st.pageShift;
    return addr >= this.st.L.linBase && pfn < this.st.L.nrPages ? pfn : -1;
  }
}
