// percpu_stats: the counters the kernel later exported in
// /sys/kernel/debug/percpu_stats, kept in the shared header and updated
// under pcpu_lock by the allocator.

import { H } from '../shm/layout.ts';
import type { Shm } from '../shm/layout.ts';
import type { PercpuStats } from '../report/result.ts';


export function percpuStats(shm: Shm): PercpuStats {
  const w = shm.w, h = shm.L.header;
  return {
    nr_alloc: w[h + H.NR_ALLOC]!, nr_dealloc: w[h + H.NR_DEALLOC]!, nr_cur_alloc: w[h + H.NR_CUR_ALLOC]!,
    nr_max_alloc: w[h + H.NR_MAX_ALLOC]!, nr_chunks: w[h + H.NR_CHUNKS]!, nr_max_chunks: w[h + H.NR_MAX_CHUNKS]!,
    min_alloc_size: w[h + H.MIN_ALLOC_SIZE]!, max_alloc_size: w[h + H.MAX_ALLOC_SIZE]!,
  };
}
