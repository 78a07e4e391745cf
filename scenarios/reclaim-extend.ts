import { directed } from './lib/scenario.ts';
import { Lock } from '../src/sync/locks.ts';

// A directed race between an allocation extending a chunk's area map and the
// reclaim work. CPU 0 fills chunk X with 14 small areas (X's map is full) and
// a whole chunk Y. CPU 1 allocates: it picks X and drops pcpu_lock to extend
// X's map, holding only pcpu_alloc_mutex. If CPU 0 frees X's areas and then Y
// in that window, the reclaim work runs: Y, emptied last, is spared and X is
// destroyed - unless reclaim waits for pcpu_alloc_mutex, as 2.6.35 does.
export const reclaimExtend = directed({
  name: 'reclaim-extend',
  description: 'the reclaim work destroys empty chunks while an allocation, holding only pcpu_alloc_mutex, is extending one of them',
  config: (cpus) => ({ cpus, backend: 'km', reservedSize: 8192, dynSize: 0 }),
  fuzzOps: 40,
  setUp(b, cpu) {
    const n = 14;
    if (cpu === 0) {
      for (let s = 0; s < n; s++) b.allocSlot(s, 4 << b.int(2), 4); // chunk X
      b.allocSlot(n, 32768, 8); // chunk Y, full
      b.complete(Lock.completion_a);
      for (let s = 0; s < n; s++) b.freeSlot(s);
      b.freeSlot(n);
    } else if (cpu === 1) {
      b.wait(Lock.completion_a);
      b.allocSlot(0, 4, 4);
      b.freeSlot(0);
    }
  },
});
