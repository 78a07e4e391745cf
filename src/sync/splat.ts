// Reports as the kernel prints them: the title, the body, the locks held
// and the call trace (lockdep's banner framing where lockdep would use it),
// handed to the machine as data. A fatal report unwinds the CPU like BUG().

import { SC } from '../sched/records.ts';
import { EV } from '../run/records.ts';
import { Oops, type Violation, type ViolationKind } from '../report/violation.ts';
import { lockName } from './locks.ts';
import type { CpuCore as Cpu } from './hooks.ts';

/** The release line a splat prints, by the kernel the machine boots (uname -r of the emulated kernel). */
export function kernelRelease(kernel: string): string {
  return kernel === '4.1' ? '4.1.15-percpu-stress' : '2.6.35-percpu-stress';
}

export function buildReport(cpu: Cpu, kind: ViolationKind, title: string, body: string, fatal: boolean, details: Record<string, unknown> | undefined, banner: boolean): void {
  if (cpu.logging()) cpu.event(EV.REPORT, 0);
  const held = cpu.heldLocks();
  const stack = cpu.stack();
  let text: string;
  if (banner) {
    const rule = (c: string): string => c.repeat(title.length);
    text = `${rule('=')}\n${title}\n${kernelRelease(cpu.host.shm.L.kernel)}\n${rule('-')}\n${body}\n${cpu.heldSection()}\nstack backtrace:\nCPU: ${cpu.id} Comm: ${cpu.name}\n`;
  } else {
    text = `${title}\n${body}\n${cpu.heldSection()}Call Trace:\n`;
  }
  text += stack.map((s) => ` ${s}\n`).join('');
  // controlled runs count steps globally: the same violation replays at the same step
  const step = cpu.host.sched ? cpu.w[cpu.host.shm.L.sched + SC.STEP]! : cpu.steps();
  const v: Violation = { kind, cpu: cpu.id, step, title, text, held, stack, fatal };
  if (details) v.details = details;
  cpu.host.attribute(cpu, v);
  cpu.host.onViolation(v);
  if (fatal) throw new Oops(v);
}

/** mutex_unlock / spin_unlock of a lock the caller does not own. */
export function badUnlock(cpu: Cpu, lock: number, owner: number, mutex: boolean): void {
  if (mutex) {
    cpu.report('bad-unlock', 'DEBUG_LOCKS_WARN_ON(lock->owner != current)',
      `${lockName(lock)} unlocked by ${cpu.name} but owned by ${owner < 0 ? 'nobody' : `cpu${owner}`}`, false);
  } else {
    // lib/spinlock_debug.c checks in this order: "already unlocked" (nobody holds it), then "wrong owner"
    const what = owner < 0 ? 'already unlocked' : 'wrong owner';
    cpu.report('bad-unlock', `BUG: spinlock ${what} on CPU#${cpu.id}, ${cpu.name}`,
      `lock: ${lockName(lock)}, .owner: ${owner < 0 ? '<none>' : `cpu${owner}`}, .owner_cpu: ${owner}`, false);
  }
}
