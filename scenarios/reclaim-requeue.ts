import { directed } from './lib/scenario.ts';
import { Lock } from '../src/sync/locks.ts';

// A directed race for the reclaim work's pending bit. CPU 1 holds two whole
// chunks; CPU 0 empties two more, which schedules the reclaim work. While the
// work destroys a chunk, CPU 1 frees its chunks: each free makes another
// fully free chunk and calls schedule_work again. With the pending bit
// cleared before the work runs (as the kernel does) that request queues
// another run; cleared after, it is lost and empty chunks stay.
export const reclaimRequeue = directed({
  name: 'reclaim-requeue',
  description: 'frees ask for reclaim again while the reclaim work is running: the request must not be lost',
  config: (cpus) => ({ cpus, reservedSize: 8192, dynSize: 0 }),
  fuzzOps: 16,
  setUp(b, cpu) {
    if (cpu === 0) {
      b.wait(Lock.completion_b);
      b.allocSlot(0, 32768, 8);
      b.allocSlot(1, 16384 + 4096 * b.int(5), 8);
      b.freeSlot(0);
      b.freeSlot(1);
      b.complete(Lock.completion_a);
    } else if (cpu === 1) {
      b.allocSlot(0, 32768, 8);
      b.allocSlot(1, 8192 << b.int(3), 8);
      b.complete(Lock.completion_b);
      b.wait(Lock.completion_a);
      b.freeSlot(0);
      b.freeSlot(1);
    }
  },
});
