// Executing a CPU program against the allocator, with the shadow checks:
// every live allocation carries a stamp written into every CPU's copy
// through per_cpu_ptr (first and last word), checked before it is freed and
// on touch; fresh areas must read as zero; accesses go through the page
// tables. Frees happen in process context, under the caller's own
// spin_lock_irqsave, with preemption off, or in another CPU's interrupt
// handler. A callee that changes the caller's irq state is reported.

import type { Cpu } from '../../sync/cpu.ts';
import { newCounters } from '../../report/result.ts';
import { Lock } from '../../sync/locks.ts';
import { F } from '../../sync/sites.ts';
import type { Kernel } from '../machine.ts';
import { CTX_SHIFT, Ctx, FREE_IRQSAVE, FREE_PREEMPT_OFF, GFP_SHIFT, IRQ_POOL, MAX_BURST, MAX_SLOTS, Op, OP_WORDS, RESERVED } from '../../../scenarios/lib/program.ts';
import { GFP_ATOMIC, GFP_KERNEL, GFP_NOFS, GFP_NOWAIT } from '../../mm/gfp.ts';
import { RUN } from '../records.ts';
import { X } from '../../sync/records.ts';
import { StopRun } from '../../report/violation.ts';
import { ShadowStamps } from '../../check/shadow.ts';

export const IRQ_FREE = 16;
export const IRQ_ALLOC = 17;

/** A program's mask word (Gfp) as the kernel's mask. */
const GFP_OF: readonly number[] = [GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT, GFP_NOFS];

export class CpuProgramRunner {
  /** Per slot: [ptr, size, stamp]. */
  readonly slots = new Int32Array(MAX_SLOTS * 3);
  readonly bootSlots = new Int32Array(MAX_SLOTS * 3);
  /** The burst pool: [ptr, size, stamp] per area, used as a stack. */
  readonly burstPool = new Int32Array(MAX_BURST * 3);
  private burstTop = 0;
  /** The areas this CPU's interrupt handler allocated (irqalloc): a ring of [ptr, size, stamp]. */
  readonly irqPool = new Int32Array(IRQ_POOL * 3);
  private irqNext = 0;
  readonly counters = newCounters();
  private seq = 0;
  private readonly shadow: ShadowStamps;

  constructor(readonly k: Kernel, readonly cpu: Cpu, private checks: boolean) {
    this.shadow = new ShadowStamps(k.st, k.pcpu);
    cpu.irqHandler = (c, kind, a0, a1, a2) => this.handleIrq(c, kind, a0, a1, a2);
  }

  /** Forget the last run (a session plays many runs on the same machine). */
  reset(checks: boolean): void {
    this.checks = checks;
    this.slots.fill(0);
    this.bootSlots.fill(0);
    this.burstTop = 0;
    this.irqPool.fill(0);
    this.irqNext = 0;
    this.seq = 0;
    this.shadow.reset();
    const c = this.counters;
    c.ops = c.alloc = c.free = c.irqfree = c.irqsHandled = c.failed = c.touches = c.checks = 0;
    this.cpu.irqHandler = (cpu, kind, a0, a1, a2) => this.handleIrq(cpu, kind, a0, a1, a2);
  }

  private freeChecked(cpu: Cpu, ptr: number, size: number, stamp: number): void {
    if (this.checks) this.shadow.verify(cpu, ptr, size, stamp);
    const off = cpu.irqsDisabled();
    this.k.pcpu.freePercpu(cpu, ptr);
    if (cpu.irqsDisabled() !== off) this.irqStateBroken(cpu, 'free_percpu', off);
  }

  private irqStateBroken(cpu: Cpu, fn: string, wasOff: boolean): void {
    cpu.report('irq-state', `percpu: ${fn}() returned with irqs ${wasOff ? 'enabled' : 'disabled'}; the caller had them ${wasOff ? 'disabled' : 'enabled'}`,
      'a callee must restore the irq state it was called with (spin_lock_irqsave, not spin_lock_irq)');
  }

  handleIrq(cpu: Cpu, kind: number, a0: number, a1: number, a2: number): void {
    if (kind === IRQ_FREE) {
      cpu.enter(F.irq_free_percpu);
      this.counters.irqsHandled++;
      this.freeChecked(cpu, a0, a1, a2);
      cpu.leave();
    } else if (kind === IRQ_ALLOC) {
      // the handler keeps a ring of areas: the oldest is freed (here, in hardirq) to make room
      cpu.enter(F.irq_alloc_percpu);
      this.counters.irqsHandled++;
      const s = this.irqNext * 3;
      this.irqNext = (this.irqNext + 1) % IRQ_POOL;
      if (this.irqPool[s] !== 0) this.freeSlot(this.irqPool, s);
      this.allocInto(this.irqPool, s, a0, a1);
      cpu.leave();
    }
  }

  /** Run ops [from, to) of a program, stopping early at `deadline` (Date.now(), 0: none); returns the index reached. */
  run(prog: Int32Array, slots: Int32Array, from = 0, to = prog.length / OP_WORDS, deadline = 0): number {
    const cpu = this.cpu;
    const w = cpu.w;
    const curOp = cpu.x + X.CUR_OP;
    const c = this.counters;
    for (let i = from; i < to; i++) {
      if (deadline !== 0 && (i & 63) === 0 && Date.now() >= deadline) return i;
      w[curOp] = i;
      const o = i * OP_WORDS;
      const code = prog[o]!;
      const s = prog[o + 1]! * 3;
      c.ops++;
      switch (code) {
        case Op.alloc:
          if (slots[s] !== 0) this.freeSlot(slots, s); // a slot reused by a shrunk program
          this.allocInto(slots, s, prog[o + 2]!, prog[o + 3]!);
          break;
        case Op.free:
          if (slots[s] === 0) break;
          this.freeSlot(slots, s, prog[o + 2]!);
          break;
        case Op.irqfree: {
          if (slots[s] === 0) break;
          const target = prog[o + 2]!;
          if (target !== cpu.id && target < this.k.nrCpus && cpu.raiseIrq(target, IRQ_FREE, slots[s]!, slots[s + 1]!, slots[s + 2]!)) {
            c.irqfree++;
            slots[s] = 0;
          } else {
            this.freeSlot(slots, s);
          }
          break;
        }
        case Op.touch:
          if (slots[s] !== 0 && this.checks) {
            c.touches++;
            this.shadow.verify(cpu, slots[s]!, slots[s + 1]!, slots[s + 2]!);
          }
          if (!cpu.pointGoesOn()) cpu.pointTurn();
          break;
        case Op.phys:
          if (slots[s] !== 0 && this.checks) this.shadow.phys(cpu, slots[s]!, slots[s + 1]!, prog[o + 2]! % this.k.nrCpus);
          if (!cpu.pointGoesOn()) cpu.pointTurn();
          break;
        case Op.irqalloc: {
          // the op's words: [IRQALLOC, target, size, flags] (no slot: the handler keeps the area)
          const target = prog[o + 1]!;
          if (target >= this.k.nrCpus || !cpu.raiseIrq(target, IRQ_ALLOC, prog[o + 2]!, prog[o + 3]!, 0)) cpu.point();
          break;
        }
        case Op.delay:
          for (let n = prog[o + 1]!, x = 0; x < n; x++) cpu.point();
          break;
        case Op.burst: {
          const n = Math.min(prog[o + 1]!, MAX_BURST - this.burstTop);
          for (let j = 0; j < n; j++) {
            const b = this.burstTop * 3;
            this.burstPool[b] = 0;
            this.allocInto(this.burstPool, b, prog[o + 2]!, prog[o + 3]!);
            if (this.burstPool[b] !== 0) this.burstTop++;
          }
          break;
        }
        case Op.unburst:
          for (let j = 0; j < prog[o + 1]! && this.burstTop > 0; j++) this.freeSlot(this.burstPool, --this.burstTop * 3);
          break;
        case Op.wait:
          cpu.waitForCompletion(prog[o + 1]!);
          break;
        case Op.complete:
          cpu.complete(prog[o + 1]!);
          break;
        case Op.lock:
          if (cpu.isMutex(prog[o + 1]!)) cpu.mutexLock(prog[o + 1]!);
          else cpu.spinLock(prog[o + 1]!);
          break;
        case Op.unlock:
          if (cpu.isMutex(prog[o + 1]!)) cpu.mutexUnlock(prog[o + 1]!);
          else cpu.spinUnlock(prog[o + 1]!);
          break;
        case Op.stuck: {
          cpu.spinLockIrqSave(Lock.pcpu_lock);
          const stop = this.k.shm.L.run + RUN.STOP;
          while (Atomics.load(w, stop) === 0) Atomics.wait(w, stop, 0, 10);
          throw new StopRun();
        }
      }
    }
    return to;
  }

  /**
   * Allocate and stamp an area into slots[s..s+3) (left 0 when the allocation fails), with the
   * op's mask, in the op's context: irqs off, under the caller's spinlock, in softirq context
   * (bottom halves off) or with preemption off, as a driver's atomic allocation would be.
   */
  private allocInto(slots: Int32Array, s: number, size: number, flags: number): void {
    const cpu = this.cpu;
    const ctx = (flags >> CTX_SHIFT) & 7;
    const gfp = GFP_OF[(flags >> GFP_SHIFT) & 7] ?? GFP_KERNEL;
    let saved = 0;
    if (ctx === Ctx.IRQS_OFF) saved = cpu.localIrqSave();
    else if (ctx === Ctx.SPINLOCK) saved = cpu.spinLockIrqSave(Lock.caller_lock);
    else if (ctx === Ctx.SOFTIRQ) cpu.localBhDisable();
    else if (ctx === Ctx.PREEMPT_OFF) cpu.preemptDisable();
    const wasOff = cpu.irqsDisabled();
    const align = flags & 0xffff, reserved = (flags & RESERVED) !== 0;
    // every failure justified (src/check/failures.ts): told of the call before it, judges it after
    const judge = this.checks ? this.k.failures : null;
    judge?.begin(cpu, size, align, reserved);
    const ptr = this.k.pcpu.pcpuAlloc(cpu, size, align, reserved, gfp);
    judge?.end(cpu, ptr, this.k.pcpu.lastError);
    if (cpu.irqsDisabled() !== wasOff) this.irqStateBroken(cpu, 'pcpu_alloc', wasOff);
    if (ctx === Ctx.IRQS_OFF) cpu.localIrqRestore(saved);
    else if (ctx === Ctx.SPINLOCK) cpu.spinUnlockIrqRestore(Lock.caller_lock, saved);
    else if (ctx === Ctx.SOFTIRQ) cpu.localBhEnable();
    else if (ctx === Ctx.PREEMPT_OFF) cpu.preemptEnable();
    if (ptr === 0) {
      this.counters.failed++;
      return;
    }
    this.counters.alloc++;
    const stamp = ((cpu.id + 1) << 24) ^ ++this.seq;
    if (this.checks) {
      this.shadow.aligned(cpu, ptr, size, align);
      this.shadow.stamp(cpu, ptr, size, stamp);
    }
    slots[s] = ptr;
    slots[s + 1] = size;
    slots[s + 2] = stamp;
  }

  private freeSlot(slots: Int32Array, s: number, context = 0): void {
    const cpu = this.cpu;
    const ptr = slots[s]!, size = slots[s + 1]!, stamp = slots[s + 2]!;
    slots[s] = 0;
    this.counters.free++;
    if (context === FREE_IRQSAVE) {
      const flags = cpu.spinLockIrqSave(Lock.caller_lock);
      this.freeChecked(cpu, ptr, size, stamp);
      cpu.spinUnlockIrqRestore(Lock.caller_lock, flags);
    } else if (context === FREE_PREEMPT_OFF) {
      cpu.preemptDisable();
      this.freeChecked(cpu, ptr, size, stamp);
      cpu.preemptEnable();
    } else {
      this.freeChecked(cpu, ptr, size, stamp);
    }
  }

  /** Free everything this CPU still holds. */
  freeAll(): void {
    for (const slots of [this.slots, this.bootSlots]) {
      for (let s = 0; s < slots.length; s += 3) if (slots[s] !== 0) this.freeSlot(slots, s);
    }
    while (this.burstTop > 0) this.freeSlot(this.burstPool, --this.burstTop * 3);
    this.freeIrqPool();
  }

  /**
   * Free what this CPU's interrupt handler still holds, with irqs off (the
   * handler's areas are its CPU's). Also once no CPU can raise an interrupt
   * any more: a handler may have allocated after freeAll, while this CPU was
   * idle.
   */
  irqPoolHeld(): boolean {
    for (let s = 0; s < this.irqPool.length; s += 3) if (this.irqPool[s] !== 0) return true;
    return false;
  }

  freeIrqPool(): void {
    let flags = -1;
    for (let s = 0; s < this.irqPool.length; s += 3) {
      if (this.irqPool[s] === 0) continue;
      if (flags < 0) flags = this.cpu.localIrqSave();
      this.freeSlot(this.irqPool, s);
    }
    if (flags >= 0) this.cpu.localIrqRestore(flags);
  }
}
