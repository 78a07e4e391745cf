// pcpu_alloc_area without the read of map[-1]. When the first area a scan
// can use is area 0 and the allocation needs a head before it (an atomic
// allocation whose populated pages start past offset 0: pcpu_fit_in_area
// moves the candidate there), 4.1 treats the head as mergeable into "the
// area before" and reads map[-1], the word before the map's allocation: a
// slab-out-of-bounds read, then the head merged into nothing (map[0] stops
// being 0) or free_size changed by what that word's low bit says. The area
// map allocator kept this through 4.13; this fix splits such a head off as
// a free area of its own, as a head after an area in use is split.

import type { Cpu } from '../../../sync/cpu.ts';
import { allocAreaWith } from '../area-map.ts';
import type { Percpu, PcpuOps } from '../core.ts';
import type { LaterFix } from '../../variant.ts';

function allocArea(p: Percpu, cpu: Cpu, chunk: number, size: number, align: number, popOnly: boolean): number {
  return allocAreaWith(p, cpu, chunk, size, align, popOnly, true);
}

export const allocAreaFirstHead: LaterFix<PcpuOps> = {
  name: 'alloc-area-first-head',
  commit: '',
  subject: 'pcpu_alloc_area: no area before area 0 to merge a head into',
  summary: 'a head before area 0 is split off as a free area instead of merged into the area before (which does not exist)',
  ops: { allocArea },
  fixes: 'head-before-map',
};
