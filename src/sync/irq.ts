// Interrupts: a queue per CPU in its shared record, filled by any entity
// (an IPI carrying work: a free handed to another CPU's handler) and
// drained by the CPU itself at its scheduling points when irqs are on. The
// handler runs in hardirq context: preempt count + HARDIRQ_OFFSET, irqs
// off, a lock mask of its own.

import { IRQ_ENTRY, IRQ_QUEUE, X, X_IRQS, X_SIZE } from './records.ts';
import { rawLock, rawUnlock } from './raw.ts';
import { CpuState } from './hooks.ts';
import { F } from './sites.ts';
import type { CpuCore as Cpu } from './hooks.ts';

export const HARDIRQ_OFFSET = 1 << 16;
/** local_bh_disable's share of the preempt count (SOFTIRQ_DISABLE_OFFSET): in_softirq(), in_atomic(). */
export const SOFTIRQ_DISABLE_OFFSET = 1 << 9;

/** Queue an interrupt on `target`; false if its queue is full. */
export function raiseIrq(cpu: Cpu, target: number, kind: number, a0: number, a1: number, a2: number): boolean {
  const w = cpu.w;
  const t = cpu.host.shm.L.cpus + target * X_SIZE;
  rawLock(w, t + X.IRQ_LOCK);
  const head = w[t + X.IRQ_HEAD]!;
  const tail = w[t + X.IRQ_TAIL]!;
  if (tail - head >= IRQ_QUEUE) {
    rawUnlock(w, t + X.IRQ_LOCK);
    return false;
  }
  const slot = tail % IRQ_QUEUE;
  const e = t + X_IRQS + slot * IRQ_ENTRY;
  cpu.host.race?.irqRaised(cpu, target, slot);
  w[e] = kind;
  w[e + 1] = a0;
  w[e + 2] = a1;
  w[e + 3] = a2;
  Atomics.store(w, t + X.IRQ_TAIL, tail + 1);
  rawUnlock(w, t + X.IRQ_LOCK);
  Atomics.add(w, t + X.WAKE, 1);
  Atomics.notify(w, t + X.WAKE, 1);
  return true;
}

export function pendingIrqs(cpu: Cpu): number {
  return Atomics.load(cpu.w, cpu.x + X.IRQ_TAIL) - cpu.w[cpu.x + X.IRQ_HEAD]!;
}

/** Run one pending interrupt's handler in hardirq context on this CPU. */
export function takeOneIrq(cpu: Cpu): void {
  const w = cpu.w, x = cpu.x;
  const head = w[x + X.IRQ_HEAD]!;
  if (Atomics.load(w, x + X.IRQ_TAIL) === head) return;
  const slot = head % IRQ_QUEUE;
  const e = x + X_IRQS + slot * IRQ_ENTRY;
  const kind = w[e]!, a0 = w[e + 1]!, a1 = w[e + 2]!, a2 = w[e + 3]!;
  rawLock(w, x + X.IRQ_LOCK);
  w[x + X.IRQ_HEAD] = head + 1;
  rawUnlock(w, x + X.IRQ_LOCK);
  const savedIrqs = w[x + X.IRQS_OFF]!;
  // an idle CPU runs while it handles the interrupt (the scheduler and the watchdog must see it)
  const savedState = w[x + X.STATE]!;
  if (savedState === CpuState.idle) w[x + X.STATE] = CpuState.running;
  w[x + X.PREEMPT] = w[x + X.PREEMPT]! + HARDIRQ_OFFSET;
  w[x + X.IRQS_OFF] = 1;
  // the handler's context holds no lock of its own yet
  const savedMask = w[x + X.LOCKMASK]!;
  w[x + X.LOCKMASK] = 0;
  w[x + X.IRQS_TAKEN]!++;
  const race = cpu.host.race;
  if (race !== null) race.irqEnter(cpu, slot);
  cpu.enter(F.handle_irq);
  cpu.runIrqHandler(kind, a0, a1, a2);
  cpu.leave();
  if (race !== null) race.irqExit(cpu);
  w[x + X.PREEMPT] = w[x + X.PREEMPT]! - HARDIRQ_OFFSET;
  w[x + X.LOCKMASK] = savedMask;
  w[x + X.IRQS_OFF] = savedIrqs;
  w[x + X.STATE] = savedState;
}
