import { directed } from './lib/scenario.ts';
import { Lock } from '../src/sync/locks.ts';

// A directed race between the reclaim work depopulating a chunk and an
// allocation populating another: both use the one shared temporary pages
// array and bitmap, which only pcpu_alloc_mutex keeps apart. CPU 0 empties two
// chunks (the reclaim work is scheduled); CPU 1 then allocates whole chunks,
// the second of which must be populated.
export const reclaimPopulate = directed({
  name: 'reclaim-populate',
  description: 'the reclaim work depopulates an empty chunk while another CPU populates a new one (one shared temp pages array)',
  config: (cpus) => ({ cpus, reservedSize: 8192, dynSize: 0 }),
  fuzzOps: 16,
  setUp(b, cpu) {
    if (cpu === 0) {
      b.allocSlot(0, 32768, 8);
      b.allocSlot(1, 16384 + 4096 * b.int(5), 8);
      b.freeSlot(0);
      b.freeSlot(1);
      b.complete(Lock.completion_a);
    } else if (cpu === 1) {
      b.wait(Lock.completion_a);
      for (let s = 0; s < 3; s++) b.allocSlot(s, 32768, 8);
      for (let s = 0; s < 3; s++) b.freeSlot(s);
    }
  },
});
