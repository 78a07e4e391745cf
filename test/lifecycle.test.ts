// Lifecycle checks at the destroy (src/check/lifecycle.ts): a chunk destroyed
// while still on a slot list, while its pages are still mapped, or while a
// work item it embeds is queued is reported at the destroy, naming the list,
// the pages or the work, before anything trips over the freed record.

import test from 'ava';
import { machine, v2635 } from './helpers.ts';
import type { Kernel } from '../src/run/machine.ts';
import type { Cpu } from '../src/sync/cpu.ts';
import { Lock } from '../src/sync/locks.ts';
import { F } from '../src/sync/sites.ts';
import { Oops } from '../src/report/violation.ts';
import { WK } from '../src/workqueue/records.ts';
import { FailSite } from '../src/mm/fail.ts';

/** Run `fn` as the kworker inside pcpu_reclaim with pcpu_alloc_mutex held (where 2.6.35 destroys chunks). */
function asReclaim(k: Kernel, fn: (cpu: Cpu) => void): void {
  const cpu = k.kworker;
  const ck = k.st.ck!;
  ck.cpu = cpu;
  cpu.enter(F.pcpu_reclaim);
  cpu.mutexLock(Lock.pcpu_alloc_mutex);
  try {
    fn(cpu);
    cpu.mutexUnlock(Lock.pcpu_alloc_mutex);
  } catch (e) {
    // a fatal report stops the run: the CPU unwinds like BUG()
    if (!(e instanceof Oops)) throw e;
  } finally {
    cpu.leave();
    ck.cpu = null;
  }
}

/** A dynamic chunk with nothing allocated in it, on the last slot list. */
function emptyChunk(k: Kernel): number {
  const cpu = k.cpu(0);
  const p = k.pcpu.pcpuAlloc(cpu, 30000, 8, false);
  const c = k.pcpu.chunkAddrSearch(cpu, p);
  k.pcpu.freePercpu(cpu, p);
  return c;
}

const lifecycle = (k: Kernel): string[] => k.violations.filter((v) => v.kind === 'lifecycle').map((v) => `${v.title}\n${v.text}`);

test('a chunk destroyed while still on its slot list is reported at the destroy, naming the list', (t) => {
  const { k } = machine({ cpus: 2 });
  const c = emptyChunk(k);
  const seq = k.st.seq(c);
  asReclaim(k, (cpu) => {
    v2635(k).backend.depopulate(cpu, c, 0, k.st.unitSize);
    v2635(k).backend.destroy(cpu, c); // never unlinked
  });
  const l = lifecycle(k);
  t.is(l.length, 1, k.violations.map((v) => v.title).join('\n'));
  t.regex(l[0]!, new RegExp(`^BUG: percpu: chunk #${seq} \\(w\\[${c}\\]\\) destroyed while still on pcpu_slot\\[${k.st.nrSlots - 1}\\]`));
  t.is(k.violations[0]!.kind, 'lifecycle', 'the first report is the destroy, not a later access to the freed record');
});

test('a chunk destroyed before it was depopulated is reported at the destroy, naming its mapped pages', (t) => {
  const { k } = machine({ cpus: 2 });
  const c = emptyChunk(k);
  asReclaim(k, (cpu) => {
    k.st.listDelInit(c, cpu.id);
    v2635(k).backend.destroy(cpu, c); // pages still populated and mapped
  });
  const l = lifecycle(k);
  t.is(l.length, 1, k.violations.map((v) => v.title).join('\n'));
  t.regex(l[0]!, /destroyed while \d+ of its pages are still mapped/);
});

test('the faithful reclaim destroys chunks out of use: nothing reported', (t) => {
  const { k } = machine({ cpus: 2 });
  const cpu = k.cpu(0);
  const ps = [1, 2, 3].map(() => k.pcpu.pcpuAlloc(cpu, 30000, 8, false));
  for (const p of ps) k.pcpu.freePercpu(cpu, p);
  t.is(k.runReclaimIfPending().length, 2);
  t.deepEqual(k.violations.map((v) => v.title), []);
});

test('a chunk record freed before it was ever linked (its map allocation failed) is out of use: nothing reported', (t) => {
  // kzalloc of the record succeeds, the map's fails: pcpu_alloc_chunk frees a record whose list node is still zeroed
  const { k } = machine({ cpus: 2 }, { fail: { site: FailSite.kmalloc, nth: 2 } });
  t.is(k.pcpu.pcpuAlloc(k.cpu(0), 30000, 8, false), 0);
  t.regex(k.pcpu.lastError, /failed to allocate new chunk/);
  t.deepEqual(k.violations.map((v) => v.title), []);
});
