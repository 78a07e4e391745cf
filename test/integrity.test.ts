// Verdicts that cannot be fooled: no exemption without an owner, dead chunks
// are dead, the race detector's clocks pass only where the kernel
// synchronizes, and a second, different violation in one function is still
// reported. Each test breaks the property it is about on purpose.

import test from 'ava';
import { machine, v2635 } from './helpers.ts';
import type { Kernel } from '../src/run/machine.ts';
import type { Cpu } from '../src/sync/cpu.ts';
import { Lock } from '../src/sync/locks.ts';
import { F } from '../src/sync/sites.ts';
import { WORK_RECLAIM } from '../src/workqueue/workqueue.ts';
import { MechanismRecorder, attributeMechanism } from '../src/check/known.ts';
import { MAX_UNWIND, PHYS_CHUNK } from '../src/check/records.ts';
import { C } from '../src/percpu/records.ts';
import { vmGetArea, vmMapPage } from '../src/mm/vm.ts';

/** Run `fn` as CPU `id` inside the allocator (where the checkers look). */
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

const kinds = (k: Kernel): string[] => k.violations.map((v) => v.kind);

test('a chunk on no slot list is exempt for its owner only: its creator, then whoever unlinked it', (t) => {
  const { k } = machine({ cpus: 3 });
  let c = 0;
  // cpu0 creates a chunk: private to cpu0 until it is linked
  inside(k, 0, F.pcpu_create_chunk, (cpu) => {
    cpu.mutexLock(Lock.pcpu_alloc_mutex);
    c = k.pcpu.allocChunk(cpu);
    k.st.setFreeSize(c, k.st.freeSize(c)); // its owner, no lock: fine
    cpu.mutexUnlock(Lock.pcpu_alloc_mutex);
  });
  t.deepEqual(kinds(k), []);
  // another CPU touching it with no lock is checked as usual
  inside(k, 1, F.pcpu_free_area, () => k.st.setFreeSize(c, 1));
  t.true(k.violations.some((v) => v.kind === 'lock-discipline' && /write to pcpu_chunk\.free_size/.test(v.text)), kinds(k).join());
  // linked, it is shared: nobody is exempt
  k.violations.length = 0;
  k.raceChecker.reset();
  k.st.ck!.cpu = null;
  inside(k, 0, F.pcpu_alloc, (cpu) => {
    const f = cpu.spinLockIrqSave(Lock.pcpu_lock);
    k.st.listMove(c, k.st.slotHead(k.st.nrSlots - 1));
    cpu.spinUnlockIrqRestore(Lock.pcpu_lock, f);
    k.st.setFreeSize(c, k.st.freeSize(c)); // now without pcpu_lock: a finding even for its creator
  });
  t.true(kinds(k).includes('lock-discipline'), kinds(k).join());
  // the kworker unlinks it: private to the kworker, not to cpu2
  k.violations.length = 0;
  k.raceChecker.reset();
  const kw = k.spec.L.kworker;
  inside(k, kw, F.pcpu_reclaim, (cpu) => {
    const f = cpu.spinLockIrqSave(Lock.pcpu_lock);
    k.st.listDelInit(c, cpu.id);
    cpu.spinUnlockIrqRestore(Lock.pcpu_lock, f);
    k.st.setContigHint(c, k.st.contigHint(c)); // the unlinker, no lock: fine
  });
  t.deepEqual(kinds(k), []);
  inside(k, 2, F.pcpu_free_area, () => k.st.setContigHint(c, 8));
  t.true(kinds(k).includes('lock-discipline'), 'a third party writing an unlinked chunk is checked');
  // two CPUs writing an unlinked chunk with no lock at all: the race detector sees it too
  inside(k, 1, F.pcpu_populate_chunk, () => k.st.setFreeSize(c, 3));
  inside(k, 2, F.pcpu_depopulate_chunk, () => k.st.setFreeSize(c, 5));
  t.true(kinds(k).includes('data-race'), kinds(k).join());
});

test('a destroyed chunk is dead: any later access is a use-after-free naming the chunk, not a data race read from poison', (t) => {
  const { k } = machine({ cpus: 2 });
  let c = 0;
  let seq = -1;
  inside(k, 0, F.pcpu_alloc, (cpu) => {
    cpu.mutexLock(Lock.pcpu_alloc_mutex);
    c = v2635(k).backend.create(cpu);
    const f = cpu.spinLockIrqSave(Lock.pcpu_lock);
    v2635(k).linkNewChunk(cpu, c);
    seq = k.st.seq(c);
    k.st.listDelInit(c, cpu.id);
    cpu.spinUnlockIrqRestore(Lock.pcpu_lock, f);
    v2635(k).backend.destroy(cpu, c);
    cpu.mutexUnlock(Lock.pcpu_alloc_mutex);
  });
  t.deepEqual(kinds(k), []);
  t.throws(() => inside(k, 1, F.free_percpu, (cpu) => {
    const f = cpu.spinLockIrqSave(Lock.pcpu_lock);
    try {
      k.st.freeSize(c);
    } finally {
      cpu.spinUnlockIrqRestore(Lock.pcpu_lock, f);
    }
  }));
  t.deepEqual(kinds(k), ['use-after-free']);
  t.regex(k.violations[0]!.text, new RegExp(`chunk #${seq} \\(w\\[${c}\\]\\)`));
  t.notRegex(k.violations[0]!.text, /site#|cpu 1\d\d/);
});

test('race detector: a handler and the task it interrupted are two contexts; irqs-off sections order them', (t) => {
  const { k } = machine({ cpus: 2 });
  const c = k.st.firstChunk;
  k.cpu(0).irqHandler = () => inside(k, 0, F.irq_free_percpu, () => k.st.setMapUsed(c, k.st.mapUsed(c)));
  // cpu1 sends cpu0 an interrupt; cpu0's task writes with irqs on and the interrupt comes in: a task-vs-its-own-irq race
  k.cpu(1).raiseIrq(0, 1, 0, 0, 0);
  inside(k, 0, F.pcpu_alloc_area, (cpu) => {
    k.st.setMapUsed(c, k.st.mapUsed(c));
    cpu.takeOneIrq();
  });
  t.true(kinds(k).includes('data-race'), kinds(k).join());
  const v = k.violations.find((x) => x.kind === 'data-race')!;
  t.regex(v.text, /cpu0 \(hardirq\)/);
  // the same with the task's write inside local_irq_save: ordered, no race
  const { k: k2 } = machine({ cpus: 2 });
  const c2 = k2.st.firstChunk;
  k2.cpu(0).irqHandler = () => inside(k2, 0, F.irq_free_percpu, () => k2.st.setMapUsed(c2, k2.st.mapUsed(c2)));
  k2.cpu(1).raiseIrq(0, 1, 0, 0, 0);
  inside(k2, 0, F.pcpu_alloc_area, (cpu) => {
    const f = cpu.localIrqSave();
    k2.st.setMapUsed(c2, k2.st.mapUsed(c2));
    cpu.localIrqRestore(f);
    cpu.takeOneIrq();
  });
  t.false(kinds(k2).includes('data-race'), kinds(k2).join());
});

test('race detector: each raised interrupt carries its raiser\'s clock, not every earlier raiser\'s', (t) => {
  const { k } = machine({ cpus: 3 });
  const c = k.st.firstChunk;
  k.cpu(2).irqHandler = () => inside(k, 2, F.irq_free_percpu, () => k.st.setMapUsed(c, k.st.mapUsed(c)));
  // cpu0 writes and raises an interrupt on cpu2 (still queued); cpu1 raises another after writing
  inside(k, 0, F.pcpu_free_area, (cpu) => {
    k.st.setMapUsed(c, 7);
    cpu.raiseIrq(2, 1, 0, 0, 0);
  });
  inside(k, 1, F.pcpu_free_area, (cpu) => {
    cpu.raiseIrq(2, 1, 0, 0, 0);
  });
  // the first handler (cpu0's interrupt) is ordered after cpu0's write: no race
  k.cpu(2).takeOneIrq();
  t.false(kinds(k).includes('data-race'), kinds(k).join());
  // cpu1 writes after raising; the second handler must not inherit cpu1's later write
  inside(k, 1, F.pcpu_free_area, () => k.st.setMapUsed(c, 9));
  k.cpu(2).takeOneIrq();
  t.true(kinds(k).includes('data-race'), 'the handler of cpu1\'s interrupt is not ordered after what cpu1 did after raising it');
});

/** Run the queued work on the kworker with `fn` as its work function (what the test wants the work to do). */
function runWorkAs(k: Kernel, fn: (cpu: Cpu) => void): void {
  const fns = k.wq.fns;
  k.wq.fns = { workFn: (cpu) => (fn(cpu), []), workFnName: () => 'test_workfn' };
  try {
    k.wq.runQueued(k.kworker);
  } finally {
    k.wq.fns = fns;
  }
}

test('race detector: work requests pass their clock to the run that serves them; flush_work waits for finished runs', (t) => {
  const { k } = machine({ cpus: 2 });
  const c = k.st.firstChunk;
  const kw = k.kworker;
  // cpu0 writes, then requests the work: the run that serves it is ordered after the write
  inside(k, 0, F.free_percpu, (cpu) => {
    k.st.setMapUsed(c, 3);
    k.wq.scheduleWork(cpu, k.wq.work(WORK_RECLAIM));
  });
  runWorkAs(k, (cpu) => inside(k, cpu.id, F.pcpu_reclaim, () => k.st.setMapUsed(c, 4)));
  t.false(kinds(k).includes('data-race'), kinds(k).join());
  // a write after the run started, with no new request: the next read by the worker races with it
  inside(k, 1, F.free_percpu, () => k.st.setMapUsed(c, 5));
  inside(k, kw.id, F.pcpu_reclaim, () => k.st.mapUsed(c));
  t.true(kinds(k).includes('data-race'));
  // flush_work: after it, what the finished runs did is behind the caller
  const { k: k2 } = machine({ cpus: 2 });
  const c2 = k2.st.firstChunk;
  inside(k2, 0, F.free_percpu, (cpu) => k2.wq.scheduleWork(cpu, k2.wq.work(WORK_RECLAIM)));
  runWorkAs(k2, (cpu) => inside(k2, cpu.id, F.pcpu_reclaim, () => k2.st.setMapUsed(c2, 6)));
  inside(k2, 1, F.flush_work, (cpu) => k2.wq.flushWork(cpu, k2.wq.work(WORK_RECLAIM), () => {}));
  inside(k2, 1, F.pcpu_free_area, () => k2.st.mapUsed(c2));
  t.false(kinds(k2).includes('data-race'), kinds(k2).join());
});

test('two different lock-rule violations in one function are both reported; the same one once', (t) => {
  const { k } = machine({ cpus: 2 });
  const c = k.st.firstChunk;
  inside(k, 0, F.pcpu_free_area, () => {
    k.st.setFreeSize(c, k.st.freeSize(c)); // a read and a write of free_size without pcpu_lock
    k.st.setFreeSize(c, 1); // the same write again: not again
    k.st.setContigHint(c, 8); // a different field in the same function: reported
  });
  const rules = k.violations.filter((v) => v.kind === 'lock-discipline').map((v) => (v.details as { field: string; access: string }));
  t.deepEqual(rules.map((d) => `${d.access} ${d.field}`), ['read pcpu_chunk.free_size', 'write pcpu_chunk.free_size', 'write pcpu_chunk.contig_hint']);
  // a CONTEXT assertion: two different missing locks in one function, both reported
  const { k: k2 } = machine({ cpus: 2 });
  inside(k2, 0, F.pcpu_populate_chunk, (cpu) => {
    k2.st.assertLocks(cpu, 1 << Lock.pcpu_alloc_mutex);
    k2.st.assertLocks(cpu, 1 << Lock.pcpu_lock);
    k2.st.assertLocks(cpu, 1 << Lock.pcpu_lock);
  });
  t.is(k2.violations.filter((v) => v.kind === 'lock-discipline').length, 2);
});

test('warn_limit and percpu_stats are declared fields: the stats need pcpu_lock', (t) => {
  const { k } = machine({ cpus: 2 });
  inside(k, 0, F.pcpu_alloc, () => k.pcpu.statsAlloc(8));
  t.true(k.violations.some((v) => v.kind === 'lock-discipline' && /percpu_stats counters/.test(v.text)), kinds(k).join());
  const { k: k2 } = machine({ cpus: 2 });
  inside(k2, 0, F.pcpu_alloc, () => k2.st.setWarnLimit(k2.st.warnLimit() - 1));
  t.deepEqual(kinds(k2), [], 'warn_limit is declared lock-free, with its reason');
});

test('a known issue is attributed only where its mechanism fired, for this very finding', (t) => {
  const { k } = machine({ cpus: 2 });
  const cpu = k.cpu(0);
  const rec = v2635(k).known as MechanismRecorder;
  const c = k.st.firstChunk;
  const fake = (kind: string, title: string, details: Record<string, unknown>) => ({ kind, title, details, cpu: 0, step: 0, text: '', held: [], stack: [], fatal: false }) as never;
  const walk = fake('list-corruption', 'BUG: list walk in pcpu_alloc reached the head of pcpu_slot[0]', { head: 0, walkSlot: 3 });
  // the first chunk has a free block of at least 4 bytes: a failed scan of it cannot be 2.6.35's escape
  rec.walkScanFailed(cpu, c, 3);
  t.is(attributeMechanism(k.shm, cpu, walk), undefined);
  // km: the area found unzeroed must be the one km handed out, size and all
  rec.kmHandedOut(cpu, c, 64, 16);
  const base = k.st.baseAddr(c);
  t.is(attributeMechanism(k.shm, cpu, fake('uninitialized', 'x', { ptr: base + 64, size: 16 })), 'km-unzeroed');
  t.is(attributeMechanism(k.shm, cpu, fake('uninitialized', 'x', { ptr: base + 80, size: 16 })), undefined);
  t.is(attributeMechanism(k.shm, k.cpu(1), fake('uninitialized', 'x', { ptr: base + 64, size: 16 })), undefined, 'another CPU\'s record');
  // map-pages-unwind: only pages an allocation failure left mapped, not a live PTE met for another reason
  rec.mapPagesLeftMapped(cpu, c, 1, 2, 4, -12);
  const left = base + k.st.unitOffset(1) + 2 * k.st.pageSize;
  const warn = (addr: number) => fake('kernel-bug', 'WARNING: at mm/vmalloc.c:vmap_pte_range()', { addr });
  t.is(attributeMechanism(k.shm, cpu, warn(left + k.st.pageSize)), 'map-pages-unwind');
  t.is(attributeMechanism(k.shm, cpu, warn(left + 2 * k.st.pageSize)), undefined);
  rec.mapPagesLeftMapped(cpu, c, 0, 5, 7, -16); // -EBUSY at page 7 of unit 0: a live PTE no recorded failure left
  t.is(attributeMechanism(k.shm, cpu, warn(base + 5 * k.st.pageSize)), undefined);
  // -EBUSY at a page a recorded failure left (unit 1's page 3): the cascade, whose own leftovers are the issue's too
  rec.mapPagesLeftMapped(cpu, c, 1, 0, 3, -16);
  t.is(attributeMechanism(k.shm, cpu, warn(base + k.st.unitOffset(1) + k.st.pageSize)), 'map-pages-unwind');
  // per_cpu_ptr_to_phys: the page path that found the right page and dropped the offset, not any wrong answer
  const page = 40;
  rec.physPath(cpu, 0x40001234, PHYS_CHUNK, page);
  const phys = (got: number, truth: number) => fake('spec', 'x', { check: 'per_cpu_ptr_to_phys', addr: 0x40001234, got, truth });
  t.is(attributeMechanism(k.shm, cpu, phys(page * k.st.pageSize, page * k.st.pageSize + 0x234)), 'ptr-to-phys-offset');
  t.is(attributeMechanism(k.shm, cpu, phys(page * k.st.pageSize + 8, page * k.st.pageSize + 0x234)), undefined);
  t.is(attributeMechanism(k.shm, cpu, phys((page + 1) * k.st.pageSize, page * k.st.pageSize + 0x234)), undefined);
});

test('map-pages-unwind\'s records, full, forget the ranges with no page mapped any more: a later range is still recorded and its cascade attributed', (t) => {
  const { k } = machine({ cpus: 2 });
  const cpu = k.cpu(0);
  const rec = v2635(k).known as MechanismRecorder;
  const c = k.st.firstChunk;
  const fake = (addr: number) => ({ kind: 'kernel-bug', title: 'WARNING: at mm/vmalloc.c:vmap_pte_range()', details: { addr }, cpu: 0, step: 0, text: '', held: [], stack: [], fatal: false }) as never;
  // as many ranges as the records hold, none of whose pages is mapped (the first chunk's addresses are no vmalloc mapping)
  for (let i = 0; i < MAX_UNWIND; i++) rec.mapPagesLeftMapped(cpu, c, 0, 0, 1, -12);
  t.is(attributeMechanism(k.shm, cpu, fake(k.st.baseAddr(c))), 'map-pages-unwind');
  // one more failure, in a vm area with its page still mapped: recorded, the dead ranges forgotten
  const saved = k.shm.w[c + C.BASE_ADDR]!;
  const area = vmGetArea(k.shm);
  const page = area + k.st.unitOffset(0) + 2 * k.st.pageSize;
  vmMapPage(k.shm, page, 7, k.st.pageShift);
  k.shm.w[c + C.BASE_ADDR] = area;
  rec.mapPagesLeftMapped(cpu, c, 0, 2, 3, -12);
  k.shm.w[c + C.BASE_ADDR] = saved;
  t.is(attributeMechanism(k.shm, cpu, fake(page)), 'map-pages-unwind', 'the live range was recorded though the records were full');
  t.is(attributeMechanism(k.shm, cpu, fake(k.st.baseAddr(c))), undefined, 'the ranges with nothing mapped are gone');
});
