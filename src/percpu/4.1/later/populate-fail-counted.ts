// pcpu_nr_empty_pop_pages kept exact under pcpu_lock. 4.1 counts a page the
// moment it is populated and takes the pages an allocation occupies off only
// after its population succeeded, with pcpu_lock long dropped; the failure
// path between the two does no accounting at all, and cannot: a page the
// failed area shared with a later allocation, populated afterwards, is
// counted as empty with nobody left to owe it a subtraction. The area-map
// allocator kept this through 4.13; 4.14's bitmap allocator keeps its counts
// under pcpu_lock as areas come and go, and so does this fix: the pages an
// allocation makes non-empty are taken off as pcpu_alloc_area finds it
// (those populated then), a population counts only the pages no area uses,
// and any free (the failure path's too) adds the populated pages it leaves
// empty (4.1's free_percpu adds every page it leaves empty, populated or
// not: an area in use can reach a page it never populated, a tail under 4
// bytes kept in it). Every update is then under pcpu_lock, so this fix supersedes
// nr-empty-locked (pcpu_alloc's late, unlocked update is gone).

import type { Cpu } from '../../../sync/cpu.ts';
import { F } from '../../../sync/sites.ts';
import { PCPU_LOCK } from '../../chunk.ts';
import type { Percpu, PcpuOps } from '../core.ts';
import type { LaterFix } from '../../variant.ts';

/** Pages [first, first + n) that are populated. */
function populated(p: Percpu, chunk: number, first: number, n: number): number {
  let nr = 0;
  for (let pg = first; pg < first + n; pg++) if (p.st.nextPopulated(chunk, pg + 1, pg, true) === pg) nr++;
  return nr;
}

/** Does an area in use touch page `pg`? CONTEXT: pcpu_lock. */
function touched(p: Percpu, chunk: number, pg: number): boolean {
  const st = p.st;
  const m = st.map(chunk);
  const lo = pg << st.pageShift, hi = lo + st.pageSize;
  for (let i = 0; i < st.mapUsed(chunk); i++) {
    const off = st.entry(chunk, m, i);
    if ((off & 1) === 0) continue;
    if ((off & ~1) < hi && (st.entry(chunk, m, i + 1) & ~1) > lo) return true;
  }
  return false;
}

/** The area was just found: its populated pages that were empty are empty no more. CONTEXT: pcpu_lock. */
function allocAccount(p: Percpu, _cpu: Cpu, chunk: number, occFirst: number, occPages: number): void {
  const st = p.st;
  if (chunk !== st.reservedChunk) st.setNrEmptyPopPages(st.nrEmptyPopPages() - populated(p, chunk, occFirst, occPages));
}

/** Nothing is left to account for once the population succeeded. */
function emptyPopUpdate(): void {}

/** pcpu_chunk_populated: count only the new pages no area uses. CONTEXT: pcpu_lock. */
function chunkPopulated(p: Percpu, cpu: Cpu, chunk: number, start: number, end: number): void {
  const st = p.st;
  cpu.enter(F.pcpu_chunk_populated);
  st.assertLocks(cpu, PCPU_LOCK);
  st.setPopulatedBits(cpu, chunk, start, end - start, true);
  st.setNrPopulated(chunk, st.nrPopulated(chunk) + end - start);
  let empty = 0;
  for (let pg = start; pg < end; pg++) if (!touched(p, chunk, pg)) empty++;
  if (chunk !== st.reservedChunk) st.setNrEmptyPopPages(st.nrEmptyPopPages() + empty);
  cpu.leave();
}

/**
 * free_percpu: the populated pages among those the freed area leaves empty
 * (an area in use can reach into a page it never populated: a tail under 4
 * bytes kept in the area). CONTEXT: pcpu_lock.
 */
function freeAccount(p: Percpu, _cpu: Cpu, chunk: number, occFirst: number, occPages: number): void {
  const st = p.st;
  st.setNrEmptyPopPages(st.nrEmptyPopPages() + populated(p, chunk, occFirst, occPages));
}

/** The failed area's free: the populated pages it leaves empty, as free_percpu counts them. CONTEXT: pcpu_lock. */
function populateFailFree(p: Percpu, cpu: Cpu, chunk: number, off: number): void {
  const st = p.st;
  p.areaFree(cpu, chunk, off);
  if (chunk !== st.reservedChunk) st.setNrEmptyPopPages(st.nrEmptyPopPages() + populated(p, chunk, p.occFirst, p.occPages));
}

export const populateFailCounted: LaterFix<PcpuOps> = {
  name: 'populate-fail-counted',
  commit: '',
  subject: 'pcpu_nr_empty_pop_pages kept exact under pcpu_lock (as 4.14\'s bitmap allocator keeps its counts)',
  summary: 'pages leave the count when an area is found and join it when populated unused or freed, all under pcpu_lock, so a failed population leaves it right',
  ops: { allocAccount, emptyPopUpdate, chunkPopulated, freeAccount, populateFailFree },
  fixes: 'populate-fail-uncounted',
  supersedes: ['nr-empty-locked'],
};
