// percpu_stats: the counters the kernel later exported in
// /sys/kernel/debug/percpu_stats, kept in the shared header and updated
// under pcpu_lock by the allocator.

import { H } from '../shm/layout.ts';
import type { Kernel } from '../run/machine.ts';

export interface PercpuStats {
  nr_alloc: number;
  nr_dealloc: number;
  nr_cur_alloc: number;
  nr_max_alloc: number;
  nr_chunks: number;
  nr_max_chunks: number;
  min_alloc_size: number;
  max_alloc_size: number;
}

export function percpuStats(k: Kernel): PercpuStats {
  const w = k.shm.w, h = k.shm.L.header;
  return {
    nr_alloc: w[h + H.NR_ALLOC]!, nr_dealloc: w[h + H.NR_DEALLOC]!, nr_cur_alloc: w[h + H.NR_CUR_ALLOC]!,
    nr_max_alloc: w[h + H.NR_MAX_ALLOC]!, nr_chunks: w[h + H.NR_CHUNKS]!, nr_max_chunks: w[h + H.NR_MAX_CHUNKS]!,
    min_alloc_size: w[h + H.MIN_ALLOC_SIZE]!, max_alloc_size: w[h + H.MAX_ALLOC_SIZE]!,
  };
}
