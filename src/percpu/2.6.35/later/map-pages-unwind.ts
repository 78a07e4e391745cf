// pcpu_map_pages with an error path that also unmaps what it mapped of the
// failing CPU before the failure (this tool's fix of the 2.6.35 unwinding,
// the shape later kernels' unwinding takes when the mapping of one CPU can
// fail part-way).

import type { Cpu } from '../../../sync/cpu.ts';
import { F } from '../../../sync/sites.ts';
import { mapPage } from '../../../mm/kernel-api.ts';
import { vmUnmapPage } from '../../../mm/vm.ts';
import { ENOMEM, type VmPages } from '../../backend.ts';
import type { PcpuOps } from '../core.ts';
import type { LaterFix } from '../../variant.ts';

function mapPages(b: VmPages, cpu: Cpu, chunk: number, pages: number, bitmap: number, start: number, end: number): number {
  const st = b.st;
  cpu.enter(F.pcpu_map_pages);
  for (let c = 0; c < st.nrCpus; c++) {
    for (let i = start; i < end; i++) {
      const err = mapPage(cpu, b.rec.chunkAddr(chunk, c, i), st.tempPage(pages, b.pageIdx(c, i)) - 1, st.pageShift);
      if (err) {
        for (let t = 0; t < c; t++) {
          for (let j = start; j < end; j++) vmUnmapPage(st.shm, b.rec.chunkAddr(chunk, t, j), st.pageShift);
        }
        // the fix: the failing CPU's own pages mapped so far
        for (let j = start; j < i; j++) vmUnmapPage(st.shm, b.rec.chunkAddr(chunk, c, j), st.pageShift);
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

export const mapPagesUnwind: LaterFix<PcpuOps> = {
  name: 'map-pages-unwind-all', commit: '', subject: 'unmap the failing CPU\'s pages too on a pcpu_map_pages failure',
  summary: 'pcpu_map_pages\'s error path unmaps every page it mapped, the failing CPU\'s included', fixes: 'map-pages-unwind',
  ops: { mapPages },
};
