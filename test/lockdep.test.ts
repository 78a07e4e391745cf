// Locks, CPU contexts, interrupts and lockdep on real worker threads
// (piscina), 8 threads on however many cores the machine has.

import test from 'ava';
import { CpuPool } from '../src/run/main/pool.ts';
import { Kernel, bootMachine, finishBoot, newShm, planMachine } from '../src/run/machine.ts';
import type { CpuTaskResult } from '../src/run/thread/cpu-task.ts';
import type { Violation } from '../src/report/violation.ts';
import { S } from '../src/run/thread/selftest.ts';
import { Lockdep } from '../src/lockdep/lockdep.ts';
import { lockdepChains, lockdepDot, lockdepProc } from '../src/lockdep/export.ts';
import { Lock } from '../src/sync/locks.ts';

const THREADS = 8;
let pool: CpuPool;

test.before(async () => {
  pool = await CpuPool.create(THREADS);
});
test.after.always(async () => {
  await pool.close();
});

interface Prog {
  program: string;
  args?: number[];
}

async function run(progs: Prog[], opts: { booting?: boolean } = {}) {
  const spec = planMachine({ cpus: Math.max(progs.length, 2) });
  const shm = newShm(spec);
  bootMachine(spec, shm, { booting: opts.booting ?? false });
  const results: CpuTaskResult[] = await pool.runAll(progs.map((p, cpu) => ({
    kind: 'selftest' as const, sab: shm.sab, spec, cpu, program: p.program, args: p.args ?? [],
  })));
  if (!opts.booting) finishBoot(shm);
  const violations: Violation[] = results.flatMap((r) => r.violations);
  return { shm, results, violations, scratch: (i: number) => shm.w[shm.L.scratch + i]! };
}

function only(t: import('ava').ExecutionContext, vs: Violation[], kind: Violation['kind']): Violation {
  const mine = vs.filter((v) => v.kind === kind);
  t.is(mine.length, 1, `expected one ${kind}, got ${JSON.stringify(vs.map((v) => v.kind))}`);
  return mine[0]!;
}

test.serial('the mutex excludes: 8 threads x 100k increments of a plain shared word', async (t) => {
  const r = await run(Array.from({ length: THREADS }, () => ({ program: 'mutex-inc', args: [100_000] })));
  t.deepEqual(r.violations, []);
  t.is(r.scratch(S.counter), THREADS * 100_000);
});

test.serial('the spinlock excludes: 8 threads x 100k increments under spin_lock_irqsave', async (t) => {
  const r = await run(Array.from({ length: THREADS }, () => ({ program: 'spin-inc', args: [100_000] })));
  t.deepEqual(r.violations, []);
  t.is(r.scratch(S.spinCounter), THREADS * 100_000);
});

test.serial('A->B on one thread and B->A on another, in different phases: circular dependency reported, nothing deadlocked', async (t) => {
  const r = await run([{ program: 'order-ab' }, { program: 'order-ba' }]);
  const v = only(t, r.violations, 'lockdep-circular');
  t.is(v.cpu, 1);
  t.is(v.title, 'WARNING: possible circular locking dependency detected');
  t.regex(v.text, /^=+\nWARNING: possible circular locking dependency detected\n2\.6\.35-percpu-stress\n-+\n/);
  t.regex(v.text, /cpu1\/1 is trying to acquire lock:\n \(test_lock_a\)\{\+\.\+\.\}, at: test_body\n/);
  t.regex(v.text, /but task is already holding lock:\n \(test_lock_b\)/);
  t.regex(v.text, /the existing dependency chain \(in reverse order\) is:\n\n-> #1 \(test_lock_b\)\{\+\.\+\.\}:\n       cpu0: test_body/);
  t.regex(v.text, / Possible unsafe locking scenario:\n\n       CPU0                    CPU1\n       ----                    ----\n  lock\(test_lock_b\);\n {31}lock\(test_lock_a\);\n {31}lock\(test_lock_b\);\n  lock\(test_lock_a\);\n\n \*\*\* DEADLOCK \*\*\*/);
  t.regex(v.text, /1 lock held by cpu1\/1:\n #0:  \(test_lock_b\)\{\+\.\+\.\}, at: test_body\n\nstack backtrace:/);
  t.deepEqual(v.details?.chain, ['test_lock_a', 'test_lock_b']);
  t.true(r.results.every((x) => !x.oops));
});

test.serial('a three-lock cycle prints the chain', async (t) => {
  const r = await run([{ program: 'order-abc' }]);
  const v = only(t, r.violations, 'lockdep-circular');
  t.regex(v.text, /Chain exists of:\n  test_lock_a --> test_lock_b --> test_lock_c\n/);
});

test.serial('a spinlock taken with irqs on and in an interrupt: inconsistent lock state', async (t) => {
  const r = await run([{ program: 'irq-unsafe-spin', args: [1] }, { program: 'idle' }]);
  const v = only(t, r.violations, 'lockdep-inconsistent');
  t.is(v.cpu, 1);
  t.regex(v.text, /^=+\nWARNING: inconsistent lock state\n/);
  t.regex(v.text, /inconsistent \{HARDIRQ-ON-W\} -> \{IN-HARDIRQ-W\} usage\.\ncpu1\/1 \[HC1\[1\]:SC0\[0\]:HE0:SE1\] takes:\n \(test_irq_lock\)\{\?\.\+\.\}/);
  t.regex(v.text, /\{HARDIRQ-ON-W\} state was registered at:\n  cpu0: test_body\n/);
  t.regex(v.text, /  lock\(test_irq_lock\);\n  <Interrupt>\n    lock\(test_irq_lock\);\n/);
  t.regex(v.text, /stack backtrace:\nCPU: 1 Comm: cpu1\n handle_irq\n test_body\n/);
});

test.serial('a mutex in an interrupt handler: sleeping function called from invalid context', async (t) => {
  const r = await run([{ program: 'irq-mutex', args: [1] }, { program: 'idle' }]);
  const v = only(t, r.violations, 'sleep-in-atomic');
  t.is(v.cpu, 1);
  t.regex(v.text, /^BUG: sleeping function called from invalid context at mm\/percpu\.c:handle_irq\nin_atomic\(\): 1, irqs_disabled\(\): 1, cpu: 1, name: cpu1\n/);
});

test.serial('a mutex under a spinlock: sleeping function called from invalid context, with the held lock', async (t) => {
  const r = await run([{ program: 'mutex-under-spin' }]);
  const v = only(t, r.violations, 'sleep-in-atomic');
  t.regex(v.text, /in_atomic\(\): 1, irqs_disabled\(\): 0, cpu: 0, name: cpu0\n1 lock held by cpu0\/0:\n #0:  \(test_lock_a\)\{\+\.\+\.\}, at: test_body\n/);
});

test.serial('irqsave/irqrestore nesting restores the exact previous state', async (t) => {
  const r = await run([{ program: 'irqsave-nesting' }]);
  t.deepEqual(r.violations, []);
  // before, after A, after B, after restore B, after restore A, irqs-off nest, after enable, preempt count
  t.deepEqual(r.results[0]!.values, [0, 1, 1, 1, 0, 1, 0, 0]);
});

test.serial('enabling irqs during the early-boot phase is reported', async (t) => {
  const r = await run([{ program: 'boot-irq-enable' }], { booting: true });
  const v = only(t, r.violations, 'irqs-enabled-early');
  t.regex(v.text, /^WARNING: Interrupts were enabled early\nDEBUG_LOCKS_WARN_ON\(early_boot_irqs_disabled\)/);
});

test.serial('unlocking a lock that is not held: bad unlock balance', async (t) => {
  const r = await run([{ program: 'bad-unlock' }]);
  const v = only(t, r.violations, 'lockdep-bad-unlock');
  t.regex(v.text, /^=+\nWARNING: bad unlock balance detected!\n2\.6\.35-percpu-stress\n-+\ncpu0\/0 is trying to release lock \(test_lock_c\)\{\.\.\.\.\} at:\n test_body\nbut there are no more locks to release!\n/);
});

test.serial('taking a spinlock twice: recursive locking reported, then the spinlock recursion BUG', async (t) => {
  const r = await run([{ program: 'recursion' }]);
  const v = only(t, r.violations, 'lockdep-recursive');
  t.regex(v.text, /^=+\nWARNING: possible recursive locking detected\n/);
  t.regex(v.text, /cpu0\/0 is trying to acquire lock:\n \(test_lock_b\)\{\+\.\+\.\}, at: test_body\n\nbut task is already holding lock:\n \(test_lock_b\)/);
  const bug = only(t, r.violations, 'spinlock-recursion');
  t.regex(bug.text, /^BUG: spinlock recursion on CPU#0, cpu0\n/);
  t.true(r.results[0]!.oops);
});

test.serial('an irq-safe lock taken before an irq-unsafe one: HARDIRQ-safe -> HARDIRQ-unsafe lock order', async (t) => {
  const r = await run([{ program: 'safe-to-unsafe', args: [1] }, { program: 'idle' }]);
  const v = only(t, r.violations, 'lockdep-irq-unsafe-order');
  t.regex(v.text, /^=+\nWARNING: HARDIRQ-safe -> HARDIRQ-unsafe lock order detected\n/);
  t.regex(v.text, /which would create a new lock dependency:\n \(test_irq_lock\)\{-\.\+\.\} -> \(test_lock_c\)\{\+\.\+\.\}\n/);
  t.regex(v.text, /but this new dependency connects a HARDIRQ-irq-safe lock:\n \(test_irq_lock\)\{-\.\+\.\}\n\.\.\. which became HARDIRQ-irq-safe at:\n  cpu1: handle_irq\n/);
  t.regex(v.text, /to a HARDIRQ-irq-unsafe lock:\n \(test_lock_c\)\{\+\.\+\.\}\n\.\.\. which became HARDIRQ-irq-unsafe at:\n  cpu0: test_body\n/);
  t.regex(v.text, / Possible interrupt unsafe locking scenario:\n\n       CPU0                    CPU1\n/);
  t.deepEqual((v.details?.safe as { lock: string }).lock, 'test_irq_lock');
});

test.serial('a lock that took an irq-unsafe lock becoming irq-safe: possible irq lock inversion', async (t) => {
  const r = await run([{ program: 'inversion', args: [1] }, { program: 'idle' }]);
  const v = only(t, r.violations, 'lockdep-irq-inversion');
  t.is(v.cpu, 1);
  t.regex(v.text, /^=+\nWARNING: possible irq lock inversion dependency detected\n/);
  t.regex(v.text, /cpu1\/1 \[HC1\[1\]:SC0\[0\]:HE0:SE1\] just changed the state of lock:\n \(test_lock_a\)\{-\.\+\.\}, at: handle_irq\nbut this lock took another, HARDIRQ-unsafe lock in the past:\n \(test_lock_c\)\{\+\.\+\.\}\n/);
});

test.serial('a mutex unlocked by a CPU that does not own it is detected; trylock fails while it is held', async (t) => {
  const r = await run([{ program: 'mutex-lock-hold' }, { program: 'mutex-foreign-unlock' }]);
  t.deepEqual(r.results[1]!.values, [0]);
  const v = only(t, r.violations, 'bad-unlock');
  t.is(v.cpu, 1);
  t.regex(v.text, /^DEBUG_LOCKS_WARN_ON\(lock->owner != current\)\ntest_mutex_a unlocked by cpu1 but owned by cpu0\n/);
  only(t, r.violations, 'lockdep-bad-unlock');
});

test.serial('every lockdep report is also data, and the graph exports as DOT and a /proc/lockdep listing', async (t) => {
  const r = await run([{ program: 'order-ab' }, { program: 'order-ba' }]);
  const v = only(t, r.violations, 'lockdep-circular');
  const json = JSON.parse(JSON.stringify(v)) as Violation;
  t.deepEqual(json.details?.acquiring, { lock: 'test_lock_a', at: 'test_body' });
  t.deepEqual(json.details?.holding, { lock: 'test_lock_b', at: 'test_body' });
  t.deepEqual(json.held, [{ lock: '(test_lock_b){+.+.}', at: 'test_body' }]);
  const ld = new Lockdep(r.shm);
  t.true(ld.hasDep(Lock.test_a, Lock.test_b));
  t.false(ld.hasDep(Lock.test_b, Lock.test_a), 'the edge that closes the cycle is not added');
  const who = (id: number): string => (id < 2 ? `cpu${id}` : 'kworker/0:1');
  t.regex(lockdepDot(ld, who), /c5 -> c6 \[label="cpu0: test_body"\];/);
  t.regex(lockdepProc(ld, who), /0005 FD:  1 BD:  0 \+\.\+\.: test_lock_a\n -> \[0006\] test_lock_b  \(first seen on cpu0 at test_body\)/);
  // the report's classes and their dependency red, the dependency it refused dashed
  const dot = lockdepDot(ld, who, v.text);
  t.regex(dot, /c5 \[label="test_lock_a\\n[^"]*", color=red, penwidth=2\];/);
  t.regex(dot, /c5 -> c6 \[label="cpu0: test_body", color=red, penwidth=2\];/);
  t.regex(dot, /c6 -> c5 \[label="refused: the dependency the report is about", color=red, style=dashed, penwidth=2\];/);
});

test.serial('lockdep learns the allocator protocol: mutex before pcpu_lock, vmalloc only outside pcpu_lock', (t) => {
  const spec = planMachine({ cpus: 2 });
  const shm = newShm(spec);
  bootMachine(spec, shm);
  const k = new Kernel(spec, shm);
  const cpu = k.cpu(0);
  const ptrs: number[] = [];
  for (let i = 0; i < 3000; i++) ptrs.push(k.pcpu.pcpuAlloc(cpu, 4, 4, false)); // grows maps past PAGE_SIZE: vmalloc
  for (let i = 0; i < 3; i++) ptrs.push(k.pcpu.pcpuAlloc(cpu, 32768, 8, false)); // new chunks, reclaimed later
  for (const p of ptrs) k.pcpu.freePercpu(cpu, p);
  t.true(k.runReclaimIfPending().length >= 2);
  t.deepEqual(k.violations, []);
  const ld = k.lockdep as Lockdep;
  t.true(ld.hasDep(Lock.pcpu_alloc_mutex, Lock.pcpu_lock));
  t.true(ld.hasDep(Lock.pcpu_alloc_mutex, Lock.vmap_area_lock));
  t.false(ld.hasDep(Lock.pcpu_lock, Lock.vmap_area_lock));
  t.false(ld.hasDep(Lock.pcpu_lock, Lock.pcpu_alloc_mutex));
  t.true(ld.hasDep(Lock.pcpu_reclaim_work, Lock.pcpu_alloc_mutex), 'the reclaim work runs with its lockdep map held');
  t.is(ld.usageString(Lock.pcpu_lock), '{..+.}', 'pcpu_lock is only ever taken with irqs off');
  const chains = lockdepChains(ld);
  t.regex(chains, /irq_context: 0\n\[0000\] pcpu_alloc_mutex\n\[0001\] pcpu_lock\n\n/);
  t.regex(chains, /irq_context: 0\n\[0004\] \(wq_completion\)events\n\[0003\] \(pcpu_reclaim_work\)\n\[0000\] pcpu_alloc_mutex\n\[0001\] pcpu_lock\n/);
});
