// percpu-km's pcpu_create_chunk counting a unit's pages as populated. A
// chunk's populated bitmap and nr_populated count the pages of one unit
// (pcpu_unit_pages: what pcpu_chunk_struct_size sizes the bitmap for, what
// every other caller passes); 4.1's percpu-km passes the group's pages,
// every unit's, so nr_populated and pcpu_nr_empty_pop_pages count
// nr_units times too many pages and the bitmap is set past its unit (past
// its longs, once the group outgrows them). percpu-km.c is unchanged through
// 4.13 (and later kernels pass the same count); this is the fix the known
// issue needs, to prove it is what it says.

import type { Cpu } from '../../../sync/cpu.ts';
import { createChunkMarking } from '../backend-km.ts';
import type { Percpu, PcpuOps } from '../core.ts';
import type { LaterFix } from '../../variant.ts';

function createChunk(p: Percpu, cpu: Cpu): number {
  return createChunkMarking(p, cpu, p.st.unitPages);
}

export const kmPopulatedUnit: LaterFix<PcpuOps> = {
  name: 'km-populated-unit',
  commit: '',
  subject: 'percpu-km: count a unit\'s pages as populated, not the group\'s',
  summary: 'percpu-km\'s pcpu_create_chunk marks pages [0, pcpu_unit_pages) populated',
  ops: { createChunk },
  fixes: 'km-populated-group',
  backend: 'km',
};
