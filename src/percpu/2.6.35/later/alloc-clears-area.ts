// pcpu_alloc's populate step as later kernels have it for every backend:
// after pcpu_populate_chunk, pcpu_alloc itself clears the new area in every
// unit, so percpu-km (whose populate does nothing) no longer hands out what
// a previous user of the memory left behind.

import type { Cpu } from '../../../sync/cpu.ts';
import { clearRange } from '../../access.ts';
import type { Percpu, PcpuOps } from '../core.ts';
import type { LaterFix } from '../../variant.ts';

function populateArea(p: Percpu, cpu: Cpu, chunk: number, off: number, size: number): number {
  const err = p.backend.populate(cpu, chunk, off, size);
  if (err) return err;
  // the fix: for_each_possible_cpu(cpu) memset(pcpu_chunk_addr(chunk, cpu, 0) + off, 0, size)
  for (let c = 0; c < p.st.nrCpus; c++) clearRange(p.st, cpu, p.chunkAddr(chunk, c, 0) + off, size);
  return 0;
}

export const allocClearsArea: LaterFix<PcpuOps> = {
  name: 'alloc-clears-area', commit: '', subject: 'pcpu_alloc clears the new area in every unit (later kernels, for every backend)',
  summary: 'pcpu_alloc clears the new area itself after populating it', fixes: 'km-unzeroed',
  ops: { populateArea },
};
