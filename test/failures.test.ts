// Every failure justified (src/check/failures.ts): a pcpu_alloc that returns
// NULL, and every warning the allocator prints about one, is explained by a
// reason the checker knows on its own (the documented rules of the
// arguments, a failure injected during the call, the emulator's capacity, a
// reserved chunk its own first fit finds full), or it is a finding. The bugs
// are put into a machine of its own by patching its table of operations, as
// test/mutants.ts puts them into copies of the sources.

import test from 'ava';
import { machine, traceMachine, v2635 } from './helpers.ts';
import type { Kernel } from '../src/run/machine.ts';
import { FailSite } from '../src/mm/fail.ts';
import { Lock } from '../src/sync/locks.ts';
import { F } from '../src/sync/sites.ts';
import { GFP_ATOMIC, GFP_KERNEL } from '../src/mm/gfp.ts';
import type { Percpu as Percpu41 } from '../src/percpu/4.1/core.ts';

/** pcpu_alloc as the CPU program calls it: the failure checker told before and after. */
function judged(k: Kernel, size: number, align: number, reserved = false): number {
  const cpu = k.cpu(0);
  const judge = k.failures;
  judge?.begin(cpu, size, align, reserved);
  const p = k.pcpu.pcpuAlloc(cpu, size, align, reserved);
  judge?.end(cpu, p, k.pcpu.lastError);
  return p;
}

const failuresOf = (k: Kernel): string[] => k.violations.filter((v) => (v.details as { check?: string } | undefined)?.check === 'failure-justified').map((v) => v.text.split('\n')[1]!);

test('the faithful allocator: illegal requests, injected failures, capacity and a full reserved chunk all justify their NULLs', (t) => {
  const k = traceMachine();
  t.is(judged(k, 0, 4), 0);
  t.is(judged(k, 32769, 4), 0);
  t.is(judged(k, 16, 8192), 0);
  t.not(judged(k, 32768, 8), 0, 'a request of a whole unit is legal');
  // the reserved chunk (8 KiB) until it is full
  let n = 0;
  while (judged(k, 1024, 8, true) !== 0) n++;
  t.is(n, 8);
  t.deepEqual(failuresOf(k), []);
  // an injected failure at chunk creation
  const { k: k2 } = machine({ cpus: 2 }, { fail: { site: FailSite.get_vm_areas, nth: 1 } });
  t.is(judged(k2, 30000, 8), 0);
  t.regex(k2.pcpu.lastError, /failed to allocate new chunk/);
  t.deepEqual(failuresOf(k2), []);
  // the emulator's heap, exhausted
  const { k: k3 } = machine({ cpus: 2, heapBytes: 64 << 10, maxChunks: 64 });
  let fails = 0;
  for (let i = 0; i < 400 && fails === 0; i++) if (judged(k3, 30000, 8) === 0) fails++;
  t.is(fails, 1, 'capacity reached');
  t.deepEqual(failuresOf(k3), []);
});

test('a legal request refused as illegal (an off-by-one in the size test: a whole unit) is a finding, with its WARNING', (t) => {
  const { k } = machine({ cpus: 2 });
  // the bug: size >= PCPU_MIN_UNIT_SIZE is illegal
  const alloc = v2635(k).ops.alloc;
  v2635(k).ops = {
    ...v2635(k).ops,
    alloc: (p, cpu, size, align, reserved) => {
      if (size < 32768) return alloc(p, cpu, size, align, reserved);
      p.lastError = `illegal size (${size}) or align (${align}) for percpu allocation`;
      cpu.host.printk(cpu, `WARNING: at mm/percpu.c:pcpu_alloc()\n${p.lastError}`);
      return 0;
    },
  };
  t.is(judged(k, 32768, 8), 0);
  const f = failuresOf(k);
  t.is(f.length, 2, f.join('\n'));
  t.regex(f[0]!, /"WARNING: at mm\/percpu\.c:pcpu_alloc\(\): illegal size \(32768\) or align \(8\) for percpu allocation" printed for pcpu_alloc\(size 32768, align 8\), a legal request by 2\.6\.35's rules/);
  t.regex(f[1]!, /pcpu_alloc\(size 32768, align 8\) returned NULL \("illegal size \(32768\).*"\) for no reason 2\.6\.35 has/);
});

test('a NULL with no reason (a chunk creation that fails although nothing failed under it) is a finding', (t) => {
  const { k } = machine({ cpus: 2 });
  v2635(k).backend.create = () => 0;
  t.is(judged(k, 30000, 8), 0);
  t.regex(failuresOf(k)[0] ?? '', /returned NULL \("failed to allocate new chunk"\) for no reason 2\.6\.35 has: .*no memory call failed on cpu0 during it/);
});

test('an illegal request that gets an area, or that fails without its WARNING, is a finding', (t) => {
  const { k } = machine({ cpus: 2 });
  const alloc = v2635(k).ops.alloc;
  v2635(k).ops = { ...v2635(k).ops, alloc: (p, cpu, size, align, reserved) => (size === 0 ? alloc(p, cpu, 4, align, reserved) : size > 32768 ? 0 : alloc(p, cpu, size, align, reserved)) };
  t.not(judged(k, 0, 4), 0);
  t.is(judged(k, 40000, 4), 0);
  const f = failuresOf(k);
  t.regex(f[0] ?? '', /pcpu_alloc\(size 0, align 4\) returned an area, although the request is illegal/);
  t.regex(f[1] ?? '', /pcpu_alloc\(size 40000, align 4\) returned NULL for an illegal request without its "WARNING/);
});

test('a reserved chunk said to be full while it has room is a finding, at the claim', (t) => {
  const k = traceMachine();
  const cpu = k.cpu(0);
  const judge = k.failures!;
  judge.begin(cpu, 64, 8, true);
  const ck = k.st.ck!;
  ck.cpu = cpu;
  cpu.enter(F.pcpu_alloc);
  const flags = cpu.spinLockIrqSave(Lock.pcpu_lock);
  judge.noRoom(cpu, k.st.reservedChunk, 64, 8);
  cpu.spinUnlockIrqRestore(Lock.pcpu_lock, flags);
  cpu.leave();
  ck.cpu = null;
  t.regex(failuresOf(k)[0] ?? '', /gives up for lack of room in the reserved chunk, which has room at offset \d+/);
});

test('a warning printed for a call that then succeeds, or for another size, is a finding', (t) => {
  const { k } = machine({ cpus: 2 });
  const alloc = v2635(k).ops.alloc;
  v2635(k).ops = {
    ...v2635(k).ops,
    alloc: (p, cpu, size, align, reserved) => {
      cpu.host.printk(cpu, `PERCPU: allocation failed, size=${size + 1} align=${align}, failed to populate`);
      return alloc(p, cpu, size, align, reserved);
    },
  };
  t.not(judged(k, 64, 8), 0);
  const f = failuresOf(k);
  t.regex(f[0] ?? '', /"PERCPU: allocation failed, size=65 align=8, failed to populate" printed during pcpu_alloc\(size 64, align 8\)/);
  t.regex(f[1] ?? '', /printed "PERCPU: allocation failed, … failed to populate" and then returned an area/);
});

// Linux 4.1: its own rules (it adjusts size and alignment and prints them adjusted), and an atomic request's
// NULL justified only when no chunk has populated room for it (or its map would have to grow)
function judged41(k: Kernel, size: number, align: number, gfp: number): number {
  const cpu = k.cpu(0);
  k.failures?.begin(cpu, size, align, false);
  const p = k.pcpu.pcpuAlloc(cpu, size, align, false, gfp);
  k.failures?.end(cpu, p, k.pcpu.lastError);
  return p;
}

test('4.1: illegal requests refused with their WARNING, atomic requests that find no populated room, are justified', (t) => {
  const { k } = machine({ kernel: '4.1', cpus: 2 });
  t.is(judged41(k, 0, 4, GFP_KERNEL), 0);
  t.is(judged41(k, 16, 8192, GFP_KERNEL), 0);
  t.not(judged41(k, 7, 1, GFP_KERNEL), 0, 'an odd size and alignment are adjusted, legal');
  // atomic requests until the first chunk's populated room runs out
  let served = 0;
  while (judged41(k, 4096, 8, GFP_ATOMIC) !== 0) served++;
  t.true(served > 0);
  t.deepEqual(failuresOf(k), []);
});

test('4.1: an atomic request given up although a chunk has populated room is a finding naming the chunk', (t) => {
  const { k } = machine({ kernel: '4.1', cpus: 2 });
  // the bug: the walk never looks at a chunk for an atomic request
  const p41 = k.pcpu as Percpu41;
  const walk = p41.ops.walkSlot;
  p41.ops = { ...p41.ops, walkSlot: (p, cpu, slot, size, align, isAtomic) => (isAtomic ? -1 : walk(p, cpu, slot, size, align, isAtomic)) };
  t.is(judged41(k, 64, 8, GFP_ATOMIC), 0);
  const f = k.violations.filter((v) => (v.details as { check?: string } | undefined)?.check === 'failure-justified');
  t.is(f.length, 1, k.violations.map((v) => v.title).join('\n'));
  t.regex(f[0]!.title, /^percpu: pcpu_alloc\(\) gave up an atomic request although chunk w\[\d+\] has populated room \(size 64, align 8\)$/);
  t.regex(f[0]!.text, /walked the chunks and gave up, but chunk w\[\d+\] \(on pcpu_slot\[\d+\]\) has room at offset \d+ on populated pages/);
});
