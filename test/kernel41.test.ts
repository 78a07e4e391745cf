// Linux 4.1's generation: its allocator against a model written from 4.1's
// rules, its invariants, the machinery it needs (allocation masks, work
// items embedded in chunks and debug-objects, async work after boot), and
// each checker broken on purpose.

import test from 'ava';
import seedrandom from 'seedrandom';
import { machine } from './helpers.ts';
import type { Kernel } from '../src/run/machine.ts';
import type { Cpu } from '../src/sync/cpu.ts';
import { Lock } from '../src/sync/locks.ts';
import { F } from '../src/sync/sites.ts';
import { C, C41, PC41 } from '../src/percpu/records.ts';
import { GFP_ATOMIC, GFP_KERNEL, GFP_NOFS } from '../src/mm/gfp.ts';
import type { Percpu } from '../src/percpu/4.1/core.ts';
import { allocArea } from '../src/percpu/4.1/area-map.ts';
import { InvariantChecker41 } from '../src/check/4.1/invariants.ts';
import { finishBoot } from '../src/run/machine.ts';
import { WORK_BALANCE } from '../src/workqueue/workqueue.ts';

function m41(partial = {}, boot = {}): Kernel {
  return machine({ kernel: '4.1', cpus: 2, ...partial }, boot).k;
}

function v41(k: Kernel): Percpu {
  if (k.pcpu.kernel !== '4.1') throw new Error('not a 4.1 machine');
  return k.pcpu as Percpu;
}

/** The findings of a kind other than the lock rules and races (4.1's own unlocked accounting shows in every allocation). */
function judged(k: Kernel): string[] {
  return k.violations.filter((v) => v.kind !== 'lock-discipline' && v.kind !== 'data-race').map((v) => `${v.kind}: ${v.title}`);
}

function inside(k: Kernel, id: number, site: F, fn: (cpu: Cpu) => void): void {
  const cpu = k.cpu(id);
  const ck = k.st.ck!;
  const outer = ck.cpu;
  ck.cpu = cpu;
  cpu.enter(site);
  try {
    fn(cpu);
  } finally {
    cpu.leave();
    ck.cpu = outer;
  }
}

test('4.1 boots its own first chunk: offset maps with sentries, every page populated and counted, maps moved to kmalloc by percpu_init_late', (t) => {
  const k = m41();
  const st = k.st, w = k.shm.w;
  const first = st.firstChunk, reserved = st.reservedChunk;
  t.not(reserved, 0);
  // the dynamic chunk: [0, 12288) in use (static + reserved), [12288, 32768) free, sentry 32768|1
  t.deepEqual(st.mapArray(first).concat(w[w[first + C.MAP]! + w[first + C.MAP_USED]!]!), [1, 12288, 32768 | 1]);
  t.is(w[first + C.MAP_ALLOC], 128);
  t.is(w[first + k.shm.L.chunkX + C41.NR_POPULATED], st.unitPages);
  // pcpu_count_occupied_pages of the free area: the pages wholly inside [12288, 32768)
  t.is(w[k.shm.L.pcx + PC41.NR_EMPTY_POP_PAGES], 5);
  t.deepEqual(new InvariantChecker41(k).checkAll(), []);
});

test('4.1 area map: the specification model agrees with the port over thousands of allocations (atomic ones too) and frees', (t) => {
  const k = m41({ cpus: 2 });
  const cpu = k.cpu(0);
  const rng = seedrandom('spec41');
  const rnd = (n: number): number => Math.floor(rng() * n);
  const live: number[] = [];
  let allocs = 0, frees = 0, atomic = 0;
  for (let i = 0; i < 4000; i++) {
    if (live.length > 0 && (live.length > 150 || rnd(100) < 45)) {
      const at = rnd(live.length);
      k.pcpu.freePercpu(cpu, live[at]!);
      live[at] = live[live.length - 1]!;
      live.pop();
      frees++;
    } else {
      const size = rnd(4) === 0 ? 1 + rnd(7) : 1 + rnd(700);
      const gfp = rnd(3) === 0 ? GFP_ATOMIC : GFP_KERNEL;
      const p = k.pcpu.pcpuAlloc(cpu, size, 1 << rnd(7), false, gfp);
      if (p !== 0) {
        live.push(p);
        allocs++;
        if (gfp === GFP_ATOMIC) atomic++;
      }
    }
    if (i % 500 === 0) k.runReclaimIfPending();
  }
  t.true(allocs > 1500 && frees > 1000 && atomic > 300, `${allocs} allocations (${atomic} atomic), ${frees} frees`);
  t.deepEqual(judged(k), []);
  t.deepEqual(new InvariantChecker41(k).checkAll().map((f) => f.message), []);
});

test('4.1 specification: an area map that departs from 4.1\'s rules is reported (first_free left behind, occupied pages miscounted)', (t) => {
  for (const [what, broken] of [
    ['first_free', (p: Percpu, cpu: Cpu, chunk: number, size: number, align: number, popOnly: boolean): number => {
      const off = allocArea(p, cpu, chunk, size, align, popOnly);
      if (off >= 0) p.st.setFirstFree(chunk, 0); // no free area is there: the hint is stale
      return off;
    }],
    ['occupied', (p: Percpu, cpu: Cpu, chunk: number, size: number, align: number, popOnly: boolean): number => {
      const off = allocArea(p, cpu, chunk, size, align, popOnly);
      if (off >= 0) p.occPages += 1;
      return off;
    }],
  ] as const) {
    const k = m41();
    const p = v41(k);
    p.ops = { ...p.ops, allocArea: broken };
    const cpu = k.cpu(0);
    for (let i = 0; i < 8; i++) k.pcpu.pcpuAlloc(cpu, 4096, 4096, false);
    t.true(k.violations.some((v) => v.kind === 'spec'), `${what}: ${judged(k).join('; ')}`);
  }
});

test('4.1 invariants: a populated count, a bitmap bit past the unit and a lost empty-page update are each reported', (t) => {
  const k = m41();
  const cpu = k.cpu(0);
  const p = k.pcpu.pcpuAlloc(cpu, 8192, 8, false);
  const chunk = k.pcpu.chunkAddrSearch(cpu, p);
  const inv = new InvariantChecker41(k);
  t.deepEqual(inv.checkAll(), []);
  const w = k.shm.w, cx = k.shm.L.chunkX;
  w[chunk + cx + C41.NR_POPULATED]!++;
  t.deepEqual(inv.checkChunk(chunk).map((f) => f.invariant), ['nr-populated']);
  w[chunk + cx + C41.NR_POPULATED]!--;
  w[chunk + C.POPULATED] = w[chunk + C.POPULATED]! | (1 << (k.st.unitPages % 32 || 31));
  t.true(inv.checkChunk(chunk).some((f) => f.message.includes('past the unit')));
  w[chunk + C.POPULATED] = w[chunk + C.POPULATED]! & ~(1 << (k.st.unitPages % 32 || 31));
  w[k.shm.L.pcx + PC41.NR_EMPTY_POP_PAGES]!--;
  t.deepEqual(inv.checkAll().map((f) => f.invariant), ['empty-pop-pages']);
});

test('4.1 atomic allocations take no mutex and never sleep: fine in hardirq, softirq and under spinlocks; GFP_KERNEL there is judged by might_sleep', (t) => {
  const k = m41();
  const cpu = k.cpu(0);
  k.pcpu.pcpuAlloc(cpu, 4096, 8, false); // a chunk with populated room
  const flags = cpu.spinLockIrqSave(Lock.caller_lock);
  const a = k.pcpu.pcpuAlloc(cpu, 32, 8, false, GFP_ATOMIC);
  cpu.spinUnlockIrqRestore(Lock.caller_lock, flags);
  cpu.localBhDisable();
  const b = k.pcpu.pcpuAlloc(cpu, 32, 8, false, GFP_NOFS);
  cpu.localBhEnable();
  t.true(a !== 0 && b !== 0);
  t.false(k.violations.some((v) => v.kind === 'sleep-in-atomic'), judged(k).join('; '));
  // the same GFP_KERNEL allocation under a spinlock takes pcpu_alloc_mutex: might_sleep says so
  const f2 = cpu.spinLockIrqSave(Lock.caller_lock);
  k.pcpu.pcpuAlloc(cpu, 32768, 8, false, GFP_KERNEL);
  cpu.spinUnlockIrqRestore(Lock.caller_lock, f2);
  t.true(k.violations.some((v) => v.kind === 'sleep-in-atomic'));
});

test('4.1 atomic allocations use only populated pages, fail without populating, flag the failure and kick the balance work', (t) => {
  const k = m41();
  const cpu = k.cpu(0);
  // use up the first chunk's empty populated pages
  const taken: number[] = [];
  for (let p = k.pcpu.pcpuAlloc(cpu, 4096, 4096, false, GFP_ATOMIC); p !== 0; p = k.pcpu.pcpuAlloc(cpu, 4096, 4096, false, GFP_ATOMIC)) taken.push(p);
  t.true(taken.length >= 4, `${taken.length}`);
  t.is(k.shm.w[k.shm.L.pcx + PC41.ATOMIC_ALLOC_FAILED], 1);
  t.true(k.wq.pending(k.wq.work(WORK_BALANCE)));
  t.is(k.shm.w[k.shm.L.pcx + PC41.BALANCE_RUNS], 0);
  // the balance work populates (creating a chunk) for the next atomic allocation
  k.runReclaimIfPending();
  t.not(k.pcpu.pcpuAlloc(cpu, 4096, 4096, false, GFP_ATOMIC), 0);
  t.deepEqual(new InvariantChecker41(k).checkAll().map((f) => f.message), []);
});

test('4.1 async work waits for boot: no balance or map extension work is scheduled in the early-boot phase', (t) => {
  const k = m41({}, { booting: true });
  const cpu = k.cpu(0);
  for (let p = k.pcpu.pcpuAlloc(cpu, 4096, 4096, false, GFP_ATOMIC); p !== 0; p = k.pcpu.pcpuAlloc(cpu, 4096, 4096, false, GFP_ATOMIC));
  t.false(k.wq.queued());
  finishBoot(k.shm);
  k.pcpu.pcpuAlloc(cpu, 4096, 4096, false, GFP_ATOMIC);
  t.true(k.wq.queued());
});

test('debug-objects: freeing a chunk whose map_extend_work is still queued is reported at the free, naming the work, and the work is cancelled', (t) => {
  const k = m41();
  const cpu = k.cpu(0);
  // a whole unit: a chunk of its own
  const p = k.pcpu.pcpuAlloc(cpu, 32768, 8, false);
  const chunk = k.pcpu.chunkAddrSearch(cpu, p);
  t.not(chunk, k.st.firstChunk);
  inside(k, 0, F.pcpu_alloc, (c) => {
    const f = c.spinLockIrqSave(Lock.pcpu_lock);
    k.wq.scheduleWork(c, k.st.extendWork(chunk));
    c.spinUnlockIrqRestore(Lock.pcpu_lock, f);
  });
  t.true(k.wq.queued());
  // destroy it as the balance work would, while the work is still queued
  inside(k, 1, F.pcpu_balance_workfn, (c) => {
    c.mutexLock(Lock.pcpu_alloc_mutex);
    const f = c.spinLockIrqSave(Lock.pcpu_lock);
    k.st.listDelInit(chunk, c.id);
    c.spinUnlockIrqRestore(Lock.pcpu_lock, f);
    v41(k).ops.destroyChunk(v41(k), c, chunk);
    c.mutexUnlock(Lock.pcpu_alloc_mutex);
  });
  const odebug = k.violations.find((v) => v.kind === 'debug-objects');
  t.truthy(odebug);
  t.regex(odebug!.title, /ODEBUG: free active .* work_struct hint: pcpu_map_extend_workfn/);
  t.false(k.wq.queued(), 'the fixup cancelled it: the worker never runs it on freed memory');
});

test('4.1 lock rules: pcpu_nr_empty_pop_pages is pcpu_lock\'s (its own comment); pcpu_atomic_alloc_failed is declared lock-free with its reason', (t) => {
  const k = m41();
  inside(k, 0, F.pcpu_alloc, () => k.st.setNrEmptyPopPages(k.st.nrEmptyPopPages() + 1));
  t.true(k.violations.some((v) => v.kind === 'lock-discipline' && String(v.details?.field) === 'pcpu_nr_empty_pop_pages'));
  const k2 = m41();
  inside(k2, 0, F.pcpu_alloc, () => k2.st.setAtomicAllocFailed(true));
  t.deepEqual(k2.violations.map((v) => v.title), []);
});
