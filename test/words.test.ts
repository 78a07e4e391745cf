// Reports that name the right thing: each misdiagnosis of issue 29,
// reproduced with the bug put into a machine of its own, and the report's
// title and the object it names checked. (The live map freed under its chunk
// is in test/kasan.test.ts: a use-after-free of the map, naming who freed it.)

import test from 'ava';
import { machine, prog, v2635 } from './helpers.ts';
import { CpuProgramRunner } from '../src/run/thread/cpu-program.ts';
import { Op } from '../scenarios/lib/program.ts';
import type { VmBackend } from '../src/percpu/2.6.35/backend-vm.ts';
import { Oops } from '../src/report/violation.ts';
import { PG } from '../src/mm/records.ts';
import { Lock } from '../src/sync/locks.ts';
import { vmToPfn } from '../src/mm/vm.ts';

test('two units mapping one page: the stamp check names the aliasing copies, not "a previous user"', (t) => {
  const { k } = machine({ cpus: 2 });
  // the bug: every unit's page i takes the same slot of the temp pages array, so all units map one page
  (v2635(k).backend as VmBackend).pageIdx = (_cpu, page) => page;
  const r = new CpuProgramRunner(k, k.cpu(0), true);
  t.throws(() => r.run(prog([Op.alloc, 0, 30000, 8]), r.slots), { instanceOf: Oops });
  const v = k.violations[0];
  t.regex(v?.title ?? '', /^percpu: cpu0's and cpu1's copies of area [0-9a-f]+ are the same memory$/);
  t.regex(v!.text, /two units map the same page/);
  t.false(k.violations.some((x) => /previous user|not zeroed/.test(x.text)), k.violations.map((x) => x.title).join('\n'));
});

test('a NULL page->index is a NULL pointer dereference in free_percpu naming the page, not list corruption', (t) => {
  const { k } = machine({ cpus: 2 });
  const cpu = k.cpu(0);
  const p = k.pcpu.pcpuAlloc(cpu, 30000, 8, false);
  // the bug's effect: the page behind the area lost its back-pointer
  const pfn = vmToPfn(k.shm, p, k.st.pageShift);
  t.true(pfn >= 0);
  k.shm.w[k.shm.L.pageDesc + pfn * PG.SIZE + PG.INDEX] = 0;
  t.throws(() => k.pcpu.freePercpu(cpu, p), { instanceOf: Oops });
  const v = k.violations[0]!;
  t.is(v.kind, 'page-fault');
  t.is(v.title, 'BUG: unable to handle kernel NULL pointer dereference in free_percpu');
  t.regex(v.text, new RegExp(`page->index of pfn ${pfn}, the page behind the address, is NULL`));
  t.false(k.violations.some((x) => x.kind === 'list-corruption'));
});

test('an unlock of a spinlock nobody holds is "already unlocked" (and lockdep\'s bad unlock balance); one another CPU holds is "wrong owner"', (t) => {
  const { k } = machine({ cpus: 2 });
  const cpu = k.cpu(0);
  cpu.spinUnlock(Lock.pcpu_lock);
  const titles = k.violations.map((v) => v.title);
  t.true(titles.includes('BUG: spinlock already unlocked on CPU#0, cpu0'), titles.join('\n'));
  t.true(titles.includes('WARNING: bad unlock balance detected!'), titles.join('\n'));
  t.false(titles.some((x) => /wrong CPU/.test(x)));
  const { k: k2 } = machine({ cpus: 2 });
  k2.cpu(1).spinLock(Lock.pcpu_lock);
  k2.cpu(0).spinUnlock(Lock.pcpu_lock);
  t.true(k2.violations.some((v) => v.title === 'BUG: spinlock wrong owner on CPU#0, cpu0'), k2.violations.map((v) => v.title).join('\n'));
});
