// percpu_stats: the counters the kernel later exported in
// /sys/kernel/debug/percpu_stats, kept in the allocator's header block and
// updated under pcpu_lock. Read here at quiescence, after a run.

import type { Shm } from '../shm/layout.ts';
import { PC } from './records.ts';
import type { PercpuStats } from '../report/result.ts';

export function percpuStats(shm: Shm): PercpuStats {
  const w = shm.w, h = shm.L.pc;
  return {
    nr_alloc: w[h + PC.NR_ALLOC]!, nr_dealloc: w[h + PC.NR_DEALLOC]!, nr_cur_alloc: w[h + PC.NR_CUR_ALLOC]!,
    nr_max_alloc: w[h + PC.NR_MAX_ALLOC]!, nr_chunks: w[h + PC.NR_CHUNKS]!, nr_max_chunks: w[h + PC.NR_MAX_CHUNKS]!,
    min_alloc_size: w[h + PC.MIN_ALLOC_SIZE]!, max_alloc_size: w[h + PC.MAX_ALLOC_SIZE]!,
  };
}

/** The harness's chunk counters: created, destroyed, reclaim runs. */
export function chunkCounters(shm: Shm): { created: number; destroyed: number; reclaimRuns: number } {
  const w = shm.w, h = shm.L.pc;
  return { created: w[h + PC.CHUNKS_CREATED]!, destroyed: w[h + PC.CHUNKS_DESTROYED]!, reclaimRuns: w[h + PC.RECLAIM_RUNS]! };
}
