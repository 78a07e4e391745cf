// pcpu_map_pages with an error path that also unmaps what it mapped of the
// failing CPU before the failure. 4.1 (as 2.6.35, and percpu-vm.c through
// 4.13) unmaps only the CPUs before the failing one: the pages
// map_kernel_range_noflush mapped of the failing CPU stay mapped while
// pcpu_populate_chunk frees them, and the next population of that range
// maps over live PTEs (-EBUSY). No later kernel's commit is known to change
// this; this is the fix the known issue needs, to prove it is what it says.

import type { Cpu } from '../../../sync/cpu.ts';
import { mapPagesUnwinding } from '../backend-vm.ts';
import type { Percpu, PcpuOps } from '../core.ts';
import type { LaterFix } from '../../variant.ts';

function mapPages(p: Percpu, cpu: Cpu, chunk: number, pages: number, start: number, end: number): number {
  return mapPagesUnwinding(p, cpu, chunk, pages, start, end, true);
}

export const mapPagesUnwind: LaterFix<PcpuOps> = {
  name: 'map-pages-unwind-all',
  commit: '',
  subject: 'unmap the failing CPU\'s pages too on a pcpu_map_pages failure',
  summary: 'when mapping fails part-way through a CPU, pcpu_map_pages unmaps that CPU\'s pages mapped so far as well as every earlier CPU\'s',
  ops: { mapPages },
  fixes: 'map-pages-unwind',
};
