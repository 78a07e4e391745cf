// pcpu_alloc's populate-failure path counting the pages it leaves empty.
// When a population fails, 4.1 frees the area it found with pcpu_free_area
// and ignores the occupied pages that call reports: pages of the area that
// were populated (by an allocation next to it, now gone, or by an earlier
// round of this population) and that only this area used become empty
// without pcpu_nr_empty_pop_pages hearing of it, and the count stays short
// of them for good (the balance work then populates more than it needs; a
// destroyed chunk's depopulation can take the count below zero). The area
// map allocator kept this path through 4.13; this fix counts the populated
// pages among those the freed area leaves empty, as free_percpu counts every
// page (whose areas are all populated) it leaves empty.

import type { Cpu } from '../../../sync/cpu.ts';
import type { Percpu, PcpuOps } from '../core.ts';
import type { LaterFix } from '../../variant.ts';

function populateFailFree(p: Percpu, cpu: Cpu, chunk: number, off: number, size: number): void {
  const st = p.st;
  p.areaFree(cpu, chunk, off);
  // the free area the area merged into: [start, end)
  const m = st.map(chunk);
  let i = 0;
  while (i + 1 < st.mapUsed(chunk) && (st.entry(chunk, m, i + 1) & ~1) <= off) i++;
  const start = st.entry(chunk, m, i) & ~1;
  const end = st.entry(chunk, m, i + 1) & ~1;
  // the pages wholly inside it that the area touched, populated
  const first = Math.max((start + st.pageSize - 1) >>> st.pageShift, off >>> st.pageShift);
  const last = Math.min(end >>> st.pageShift, (off + size + st.pageSize - 1) >>> st.pageShift);
  let nr = 0;
  for (let pg = first; pg < last; pg++) if (st.nextPopulated(chunk, pg + 1, pg, true) === pg) nr++;
  if (chunk !== st.reservedChunk) st.setNrEmptyPopPages(st.nrEmptyPopPages() + nr);
}

export const populateFailCounted: LaterFix<PcpuOps> = {
  name: 'populate-fail-counted',
  commit: '',
  subject: 'pcpu_alloc: count the populated pages a failed population leaves empty',
  summary: 'after a failed population, pcpu_alloc adds the populated pages the freed area leaves empty to pcpu_nr_empty_pop_pages',
  ops: { populateFailFree },
  fixes: 'populate-fail-uncounted',
};
