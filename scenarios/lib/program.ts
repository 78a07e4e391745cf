// CPU programs: what each emulated CPU does in a run, as data. A program is
// a flat Int32Array of 4-word ops (no objects on the hot path, cheap to send
// to a worker, easy to write into a repro file and to shrink). Allocations
// live in program-local slots; the generator tracks which slots are live so
// every free names a live slot (an allocation that failed at run time leaves
// its slot empty, and freeing an empty slot is free_percpu(NULL)).

import seedrandom from 'seedrandom';
import { Lock } from '../../src/sync/locks.ts';

export enum Op {
  /** [ALLOC, slot, size, align | RESERVED] */
  alloc = 1,
  /** [FREE, slot, context, 0]: context FREE_PROCESS / FREE_IRQSAVE / FREE_PREEMPT_OFF */
  free = 2,
  /** [IRQFREE, slot, target cpu, 0]: hand the area to the target's interrupt handler */
  irqfree = 3,
  /** [TOUCH, slot, 0, 0]: read every CPU's copy and check its stamp */
  touch = 4,
  /** [DELAY, iterations, 0, 0]: pass some scheduling points */
  delay = 5,
  /** [STUCK, 0, 0, 0]: fault injection for the watchdog: hold pcpu_lock with irqs off and spin until the run is stopped */
  stuck = 6,
  /** [LOCK, lock, 0, 0] / [UNLOCK, lock, 0, 0]: raw lock operations, for lock-order test programs */
  lock = 7,
  unlock = 8,
  /** [BURST, count, size, align]: allocate `count` areas at once into the burst pool (a driver's many small counters) */
  burst = 9,
  /** [UNBURST, count, 0, 0]: free the `count` most recent areas of the burst pool */
  unburst = 10,
  /** [WAIT, completion, 0, 0] / [COMPLETE, completion, 0, 0]: order directed programs */
  wait = 11,
  complete = 12,
  /** [PHYS, slot, target cpu, 0]: per_cpu_ptr_to_phys() of the target's copy, checked against where the bytes really are */
  phys = 13,
}

export const OP_WORDS = 4;
export const RESERVED = 0x10000;
export const FREE_PROCESS = 0;
export const FREE_IRQSAVE = 1; // under the caller's own spin_lock_irqsave
export const FREE_PREEMPT_OFF = 2;
export const MAX_SLOTS = 64;
export const MAX_BURST = 1024;

export const OP_NAMES: Record<number, string> = {
  [Op.alloc]: 'alloc', [Op.free]: 'free', [Op.irqfree]: 'irqfree', [Op.touch]: 'touch', [Op.delay]: 'delay', [Op.stuck]: 'stuck', [Op.lock]: 'lock',
  [Op.unlock]: 'unlock', [Op.burst]: 'burst', [Op.unburst]: 'unburst', [Op.wait]: 'wait', [Op.complete]: 'complete', [Op.phys]: 'phys',
};
// every op has a name: a new op cannot be written to a repro that replay then refuses
for (const v of Object.values(Op)) if (typeof v === 'number' && !(v in OP_NAMES)) throw new Error(`op ${v} has no name`);

/** Builds a program while tracking live slots. */
export class ProgramBuilder {
  private ops: number[] = [];
  private readonly live: number[] = [];
  private readonly free: number[] = [];
  readonly rng: () => number;
  /** A size mix ([size, align] pairs) for the standard op mix, or null. */
  sizes: Int32Array | null = null;

  constructor(seed: string, readonly maxSlots = MAX_SLOTS) {
    this.rng = seedrandom(seed);
    for (let s = maxSlots - 1; s >= 0; s--) this.free.push(s);
  }

  get liveCount(): number {
    return this.live.length;
  }
  get length(): number {
    return this.ops.length / OP_WORDS;
  }
  int(n: number): number {
    return Math.floor(this.rng() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  alloc(size: number, align: number, reserved = false): boolean {
    const slot = this.free.pop();
    if (slot === undefined) return false;
    this.live.push(slot);
    this.ops.push(Op.alloc, slot, size, align | (reserved ? RESERVED : 0));
    return true;
  }

  /** Alloc into a tracked slot and return it (-1 when every slot is live). */
  allocTracked(size: number, align: number): number {
    const slot = this.free[this.free.length - 1];
    if (slot === undefined || !this.alloc(size, align)) return -1;
    return slot;
  }

  /** Free a tracked live slot (process context). */
  freeTracked(slot: number): void {
    const i = this.live.indexOf(slot);
    if (i < 0) throw new Error(`slot ${slot} is not live`);
    this.live[i] = this.live[this.live.length - 1]!;
    this.live.pop();
    this.free.push(slot);
    this.ops.push(Op.free, slot, FREE_PROCESS, 0);
  }

  /** Take a random live slot out of the live set. */
  private takeLive(): number | undefined {
    if (!this.live.length) return undefined;
    const i = this.int(this.live.length);
    const slot = this.live[i]!;
    this.live[i] = this.live[this.live.length - 1]!;
    this.live.pop();
    this.free.push(slot);
    return slot;
  }

  freeRandom(context = FREE_PROCESS): boolean {
    const slot = this.takeLive();
    if (slot === undefined) return false;
    this.ops.push(Op.free, slot, context, 0);
    return true;
  }

  irqFreeRandom(target: number): boolean {
    const slot = this.takeLive();
    if (slot === undefined) return false;
    this.ops.push(Op.irqfree, slot, target, 0);
    return true;
  }

  burst(count: number, size: number, align: number): void {
    this.ops.push(Op.burst, count, size, align);
  }

  unburst(count: number): void {
    this.ops.push(Op.unburst, count, 0, 0);
  }

  /** A raw lock operation (test locks only). */
  lock(l: number, take: boolean): void {
    this.ops.push(take ? Op.lock : Op.unlock, l, 0, 0);
  }

  wait(c: number): void {
    this.ops.push(Op.wait, c, 0, 0);
  }

  complete(c: number): void {
    this.ops.push(Op.complete, c, 0, 0);
  }

  /** Alloc into a chosen slot (directed programs); the slot must be free. */
  allocSlot(slot: number, size: number, align: number): void {
    this.ops.push(Op.alloc, slot, size, align);
  }

  freeSlot(slot: number): void {
    this.ops.push(Op.free, slot, FREE_PROCESS, 0);
  }

  irqFreeSlot(slot: number, target: number): void {
    this.ops.push(Op.irqfree, slot, target, 0);
  }

  touchRandom(): void {
    if (this.live.length) this.ops.push(Op.touch, this.pick(this.live), 0, 0);
  }

  /** per_cpu_ptr_to_phys() of a random live area in CPU `target`'s copy. */
  physRandom(target: number): void {
    if (this.live.length) this.ops.push(Op.phys, this.pick(this.live), target, 0);
  }

  delay(n: number): void {
    this.ops.push(Op.delay, n, 0, 0);
  }

  build(): Int32Array {
    return Int32Array.from(this.ops);
  }
}

/** A program as plain JSON (repro files): [[op, a, b, c], ...]. */
export function programToJson(p: Int32Array): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < p.length; i += OP_WORDS) out.push([p[i]!, p[i + 1]!, p[i + 2]!, p[i + 3]!]);
  return out;
}

export function programFromJson(ops: unknown, where: string): Int32Array {
  if (!Array.isArray(ops)) throw new TypeError(`${where}: a program must be an array of ops`);
  const out = new Int32Array(ops.length * OP_WORDS);
  ops.forEach((op, i) => {
    if (!Array.isArray(op) || op.length !== OP_WORDS || !op.every((x) => Number.isSafeInteger(x))) {
      throw new TypeError(`${where}: op ${i} must be [op, a, b, c] integers`);
    }
    if (!(op[0] in OP_NAMES)) throw new TypeError(`${where}: op ${i} has unknown code ${op[0]}`);
    if ((op[0] === Op.alloc || op[0] === Op.free || op[0] === Op.irqfree || op[0] === Op.touch || op[0] === Op.phys) && (op[1] < 0 || op[1] >= MAX_SLOTS)) {
      throw new TypeError(`${where}: op ${i} names slot ${op[1]}, outside 0..${MAX_SLOTS - 1}`);
    }
    if (op[0] === Op.burst && !(op[1] >= 0 && op[1] <= MAX_BURST)) throw new TypeError(`${where}: op ${i}: a burst is 0..${MAX_BURST} areas`);
    if ((op[0] === Op.wait || op[0] === Op.complete) && !(op[1] >= Lock.completion_a && op[1] <= Lock.completion_b)) {
      throw new TypeError(`${where}: op ${i}: only completions (${Lock.completion_a}..${Lock.completion_b}) can be waited for`);
    }
    if ((op[0] === Op.lock || op[0] === Op.unlock) && !(op[1] >= Lock.test_a && op[1] <= Lock.test_irq_lock)) {
      throw new TypeError(`${where}: op ${i}: only the test locks (${Lock.test_a}..${Lock.test_irq_lock}) can be named`);
    }
    out.set(op as number[], i * OP_WORDS);
  });
  return out;
}

/** One line per op, for reports: "alloc s3 64/8", "irqfree s3 -> cpu2". */
export function describeOp(p: Int32Array, i: number): string {
  const o = i * OP_WORDS;
  const [code, a, b, c] = [p[o]!, p[o + 1]!, p[o + 2]!, p[o + 3]!];
  switch (code) {
    case Op.alloc:
      return `alloc s${a} size ${b} align ${c & 0xffff}${c & RESERVED ? ' reserved' : ''}`;
    case Op.free:
      return `free s${a}${b === FREE_IRQSAVE ? ' under spin_lock_irqsave' : b === FREE_PREEMPT_OFF ? ' with preemption off' : ''}`;
    case Op.irqfree:
      return `irqfree s${a} -> cpu${b}`;
    case Op.touch:
      return `touch s${a}`;
    case Op.stuck:
      return 'stuck (spin with pcpu_lock held)';
    case Op.burst:
      return `burst ${a} x ${b} align ${c}`;
    case Op.unburst:
      return `unburst ${a}`;
    case Op.wait:
      return `wait_for_completion ${a}`;
    case Op.complete:
      return `complete ${a}`;
    case Op.lock:
      return `lock ${a}`;
    case Op.unlock:
      return `unlock ${a}`;
    case Op.phys:
      return `per_cpu_ptr_to_phys s${a} of cpu${b}`;
    default:
      return `delay ${a}`;
  }
}
