// pcpu_addr_in_first_chunk as later kernels have it ("percpu: fix first
// chunk match in per_cpu_ptr_to_phys()"): an address is the first chunk's
// when it lies in any CPU's unit of it, not only in unit 0's.

import type { Percpu, PcpuOps } from '../core.ts';
import type { LaterFix } from '../../variant.ts';

function addrInFirstChunk(p: Percpu, addr: number): boolean {
  const st = p.st;
  const firstStart = st.baseAddr(st.firstChunk);
  for (let c = 0; c < st.nrCpus; c++) {
    const start = firstStart + st.unitOffset(c);
    if (addr >= start && addr < start + st.unitSize) return true;
  }
  return false;
}

export const physFirstChunkUnits: LaterFix<PcpuOps> = {
  name: 'phys-first-chunk-units', commit: '', subject: 'percpu: fix first chunk match in per_cpu_ptr_to_phys()',
  summary: 'per_cpu_ptr_to_phys recognizes a first-chunk address in any CPU\'s unit', fixes: 'ptr-to-phys-first-chunk',
  ops: { addrInFirstChunk },
};
