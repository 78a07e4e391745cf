// The allocator on one CPU: chunk life cycle, reserved chunk, both backends,
// failure injection, and long random sequences against an independent model.

import test from 'ava';
import { allocMany, machine, teardown, traceMachine } from './helpers.ts';
import { InvariantChecker } from '../src/check/invariants.ts';
import { leakCheck } from '../src/check/leak.ts';
import { runSingle } from '../src/run/main/single.ts';
import { FailSite } from '../src/mm/fail.ts';
import { pagesUsed } from '../src/mm/pages.ts';
import { vmToPfn } from '../src/mm/vm.ts';
import { chunkCounters } from '../src/percpu/stats.ts';

test('reserved allocations come from the reserved chunk until it is exhausted', (t) => {
  const k = traceMachine();
  const cpu = k.cpu(0);
  const got: number[] = [];
  for (;;) {
    const p = k.pcpu.pcpuAlloc(cpu, 1024, 8, true);
    if (p === 0) break;
    got.push(p);
  }
  t.is(got.length, 8); // 8 KiB reserved area
  t.is(k.pcpu.lastError, 'alloc from reserved chunk failed');
  for (const p of got) t.is(k.pcpu.chunkAddrSearch(cpu, p), k.st.reservedChunk);
  t.true(k.log.some((l) => l.includes('PERCPU: allocation failed, size=1024 align=8, alloc from reserved chunk failed')));
  // a normal allocation still works
  t.not(k.pcpu.pcpuAlloc(cpu, 1024, 8, false), 0);
});

test('illegal sizes and alignments warn and fail', (t) => {
  const k = traceMachine();
  const cpu = k.cpu(0);
  t.is(k.pcpu.pcpuAlloc(cpu, 0, 4, false), 0);
  t.is(k.pcpu.lastError, 'illegal size (0) or align (4) for percpu allocation');
  t.is(k.pcpu.pcpuAlloc(cpu, 32769, 4, false), 0);
  t.is(k.pcpu.pcpuAlloc(cpu, 16, 8192, false), 0);
  t.is(k.pcpu.lastError, 'illegal size (16) or align (8192) for percpu allocation');
});

test('chunks are created on demand and reclaim keeps exactly one fully free chunk', (t) => {
  const { k } = machine({ cpus: 2 });
  const cpu = k.cpu(0);
  const big = [1, 2, 3, 4].map(() => k.pcpu.pcpuAlloc(cpu, 32768, 8, false));
  t.is(chunkCounters(k.shm).created, 4);
  const scheduled: boolean[] = [];
  for (const p of big) {
    k.pcpu.freePercpu(cpu, p);
    scheduled.push(k.pcpu.lastFreeScheduled);
  }
  t.deepEqual(scheduled, [false, true, true, true]);
  t.true(k.wq.queued());
  const destroyed = k.runReclaimIfPending();
  t.is(destroyed.length, 3);
  t.false(k.wq.queued());
  t.deepEqual(leakCheck(k), []);
  t.deepEqual(k.runReclaimIfPending(), []);
});

test('vm backend populates pages on demand and depopulates them on reclaim', (t) => {
  const { k } = machine({ cpus: 2 });
  const cpu = k.cpu(0);
  const before = pagesUsed(k.shm);
  const fill = k.pcpu.pcpuAlloc(cpu, 32768, 8, false); // a whole new chunk
  const chunk = k.pcpu.chunkAddrSearch(cpu, fill);
  t.is(pagesUsed(k.shm) - before, 2 * 8, 'a 32 KiB area needs 8 pages in each of 2 units');
  for (let p = 0; p < 8; p++) {
    t.true(k.st.populated(chunk, p));
    t.true(vmToPfn(k.shm, k.pcpu.chunkAddr(chunk, 1, p), k.st.pageShift) >= 0);
  }
  const second = k.pcpu.pcpuAlloc(cpu, 32768, 8, false);
  k.pcpu.freePercpu(cpu, fill);
  k.pcpu.freePercpu(cpu, second);
  k.runReclaimIfPending();
  t.is(pagesUsed(k.shm) - before, 16, 'the surviving free chunk keeps its pages, the other one returned them');
  t.deepEqual(leakCheck(k), []);
});

test('km backend allocates each chunk as one contiguous block and runs clean', (t) => {
  const { k } = machine({ cpus: 4, backend: 'km' });
  const ptrs = allocMany(k, 600);
  t.true(ptrs.every((p) => p !== 0));
  t.deepEqual(new InvariantChecker(k).checkAll(), []);
  teardown(k, ptrs);
  t.deepEqual(leakCheck(k), []);
  const r = runSingle({ seed: 5, ops: 20000, backend: 'km' });
  // 2.6.35's percpu-km does not clear areas: the one finding is that known issue
  t.deepEqual(r.violations.filter((v) => v.mechanism !== 'km-unzeroed').map((v) => v.title), []);
  t.true(r.violations.some((v) => v.mechanism === 'km-unzeroed'), 'reused km memory is reported as not zeroed');
  t.true(r.chunksDestroyed > 0);
});

const SITE_ERRORS: Record<string, string[]> = {
  kmalloc: ['failed to allocate new chunk', 'failed to extend area map', 'failed to populate'],
  vmalloc: ['failed to extend area map'],
  alloc_pages: ['failed to populate'],
  get_vm_areas: ['failed to allocate new chunk'],
  map_pages: ['failed to populate'],
};

for (const [site, errors] of Object.entries(SITE_ERRORS)) {
  test(`failure injection at ${site} fails allocations with the kernel's message and leaves a valid state`, (t) => {
    let failures = 0;
    for (const nth of [1, 2, 3, 5, 8, 13, 21]) {
      const { k } = machine({ cpus: 2 }, { fail: { site: FailSite[site as keyof typeof FailSite], nth } });
      const ptrs = allocMany(k, 2600, site === 'vmalloc' ? [4] : undefined);
      const failed = k.log.filter((l) => l.includes('PERCPU: allocation failed'));
      failures += failed.length;
      for (const l of failed) t.true(errors.some((e) => l.endsWith(e)), l);
      t.deepEqual(new InvariantChecker(k).checkAll(), [], `nth=${nth}`);
      teardown(k, ptrs);
      t.deepEqual(new InvariantChecker(k).checkAll(), []);
      t.deepEqual(leakCheck(k), [], `nth=${nth}`);
      t.deepEqual(k.violations, []);
    }
    t.true(failures >= 2, `only ${failures} failures were injected`);
  });
}

test('100k seeded random operations stay consistent with the invariant checker and the area model', (t) => {
  const r = runSingle({ seed: 42, ops: 100_000, backend: 'vm', cpus: 2, fullCheckEvery: 1 });
  t.deepEqual(r.violations.map((v) => v.text), []);
  t.true(r.checks >= 2 * (r.ops.alloc + r.ops.free), `${r.checks} checks`);
  t.true(r.chunksCreated > 10 && r.chunksDestroyed > 5, `${r.chunksCreated} created, ${r.chunksDestroyed} destroyed`);
});
