// pcpu_alloc's populate-failure path keeping pcpu_nr_empty_pop_pages right.
// When a population fails, 4.1 frees the area it found with pcpu_free_area
// and does no accounting: the success path would have taken off the pages
// pcpu_alloc_area counted as the area's (populated by now), and a free adds
// those it leaves empty; the failure path does neither. For the pages the
// area touched that are populated (before it, or by an earlier round of this
// population, which counted them as empty), the count then goes wrong: one
// the area alone used is left empty uncounted (a neighbour's free did not
// count it while this area was in use); one it shares with an allocation
// made after it stays counted though in use (that allocation did not count
// it as its own). The area-map allocator kept this path through 4.13 (the
// bitmap allocator of 4.14 counts pages under pcpu_lock as areas come and
// go); this fix does on the failure path what the two paths would: takes off
// the populated pages among those pcpu_alloc_area counted, and adds the
// populated pages among those pcpu_free_area counts.

import type { Cpu } from '../../../sync/cpu.ts';
import type { Percpu, PcpuOps } from '../core.ts';
import type { LaterFix } from '../../variant.ts';

/** The populated pages among `n` pages from `first`. */
function populated(p: Percpu, chunk: number, first: number, n: number): number {
  let nr = 0;
  for (let pg = first; pg < first + n; pg++) if (p.st.nextPopulated(chunk, pg + 1, pg, true) === pg) nr++;
  return nr;
}

function populateFailFree(p: Percpu, cpu: Cpu, chunk: number, off: number, _size: number, occFirst: number, occPages: number): void {
  const st = p.st;
  const taken = populated(p, chunk, occFirst, occPages);
  p.areaFree(cpu, chunk, off);
  const freed = populated(p, chunk, p.occFirst, p.occPages);
  if (chunk !== st.reservedChunk) st.setNrEmptyPopPages(st.nrEmptyPopPages() + freed - taken);
}

export const populateFailCounted: LaterFix<PcpuOps> = {
  name: 'populate-fail-counted',
  commit: '',
  subject: 'pcpu_alloc: account for the pages a failed population frees',
  summary: 'after a failed population, pcpu_alloc takes the populated pages pcpu_alloc_area counted off pcpu_nr_empty_pop_pages and adds those pcpu_free_area counts',
  ops: { populateFailFree },
  fixes: 'populate-fail-uncounted',
};
