import { directed } from './lib/scenario.ts';
import { Lock } from '../src/sync/locks.ts';

// A directed race for the slot walk in pcpu_alloc. CPU 0 prepares a chunk X
// whose area map is full (the next allocation must extend it), whose
// contig_hint is stale (it promises 16384 bytes; the largest free block is
// 16380) and whose free size sits just below a slot boundary, and hands one
// small area of X to CPU 1's interrupt handler. CPU 1 then asks for
// 16381-16383 bytes: it picks X and drops pcpu_lock to extend the map; if the
// interrupt comes in that window, the free moves X up one slot list. 2.6.35
// restarts the walk; the pre-fix code carries on from X and walks into the
// other list's head.
export const extendWalk = directed({
  name: 'extend-walk',
  description: 'an allocation extends a fragmented chunk\'s map while an interrupt frees into that chunk and moves it to another slot list',
  config: (cpus) => ({ cpus, reservedSize: 8192, dynSize: 0 }),
  fuzzOps: 24,
  setUp(b, cpu) {
    if (cpu === 0) {
      b.allocSlot(0, 16384, 4); // chunk X: [-16384, 16384]
      for (let s = 1; s <= 12; s++) b.allocSlot(s, 4, 4); // [-16384, -4 x 12, 16336]
      b.allocSlot(13, 16336, 4); // X is full
      b.freeSlot(0); // [16384, -4 x 12, -16336], contig_hint 16384
      b.allocSlot(14, 4, 4); // [-4, 16380, ...]: 15 entries, the hint stays 16384, slot 11
      b.irqFreeSlot(2 + b.int(11), 1); // a 4-byte hole, in CPU 1's interrupt: free size 16384, slot 12
      b.complete(Lock.completion_a);
      b.wait(Lock.completion_b);
      for (const s of [1, 3, 5, 7, 9, 11, 13, 14]) b.freeSlot(s);
    } else if (cpu === 1) {
      b.wait(Lock.completion_a);
      b.allocSlot(0, 16381 + b.int(3), 1);
      b.complete(Lock.completion_b);
      b.freeSlot(0);
    }
  },
});
