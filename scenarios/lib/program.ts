// CPU programs: what each emulated CPU does in a run, as data. A program is
// a flat Int32Array of 4-word ops (no objects on the hot path, cheap to send
// to a worker, easy to write into a repro file and to shrink). Allocations
// live in program-local slots; the generator tracks which slots are live so
// every free names a live slot (an allocation that failed at run time leaves
// its slot empty, and freeing an empty slot is free_percpu(NULL)).

import seedrandom from 'seedrandom';
import { Lock } from '../../src/sync/locks.ts';
import { PCPU_MIN_UNIT_SIZE } from '../../src/shm/config.ts';

export enum Op {
  /** [ALLOC, slot, size, align | RESERVED | GFP_* | CTX_*]: 4.1's mask and the context the caller allocates in (see allocFlags) */
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
  /**
   * [IRQALLOC, target cpu, size, align | GFP_*]: the target's interrupt handler allocates (hardirq context, as a
   * driver's or BPF's handler does) into that CPU's pool of handler areas, freeing the pool's oldest there first when full
   */
  irqalloc = 14,
}

export const OP_WORDS = 4;
export const RESERVED = 0x10000;
/** An alloc's mask (Linux 4.1's gfp; 2.6.35 takes none and always may sleep), bits 17-19. */
export const GFP_SHIFT = 17;
export enum Gfp { KERNEL = 0, ATOMIC = 1, NOWAIT = 2, NOFS = 3 }
export const GFP_WORD_NAMES: readonly string[] = ['GFP_KERNEL', 'GFP_ATOMIC', 'GFP_NOWAIT', 'GFP_NOFS'];
/** The context an alloc is made in, bits 20-22. */
export const CTX_SHIFT = 20;
export enum Ctx { PROCESS = 0, IRQS_OFF = 1, SPINLOCK = 2, SOFTIRQ = 3, PREEMPT_OFF = 4 }
export const CTX_NAMES: readonly string[] = ['', ' with irqs off', ' under spin_lock_irqsave', ' in softirq context (bh off)', ' with preemption off'];
/** An alloc op's flags word: its align, reserved or not, the mask and the context. */
export function allocFlags(align: number, o: { reserved?: boolean; gfp?: Gfp; ctx?: Ctx } = {}): number {
  return align | (o.reserved ? RESERVED : 0) | ((o.gfp ?? Gfp.KERNEL) << GFP_SHIFT) | ((o.ctx ?? Ctx.PROCESS) << CTX_SHIFT);
}
/** Areas an interrupt handler keeps per CPU (irqalloc). */
export const IRQ_POOL = 8;
export const FREE_PROCESS = 0;
export const FREE_IRQSAVE = 1; // under the caller's own spin_lock_irqsave
export const FREE_PREEMPT_OFF = 2;
export const MAX_SLOTS = 64;
export const MAX_BURST = 1024;

/**
 * The ops that name a CPU, and which of their words does: a CPU dropped from a
 * set of programs (shrinking) renumbers every one of them, and a program is
 * checked against the machine's CPU count through the same table.
 */
export const OP_CPU_WORD: Readonly<Partial<Record<Op, number>>> = { [Op.irqfree]: 2, [Op.phys]: 2, [Op.irqalloc]: 1 };

export const OP_NAMES: Record<number, string> = {
  [Op.alloc]: 'alloc', [Op.free]: 'free', [Op.irqfree]: 'irqfree', [Op.touch]: 'touch', [Op.delay]: 'delay', [Op.stuck]: 'stuck', [Op.lock]: 'lock',
  [Op.unlock]: 'unlock', [Op.burst]: 'burst', [Op.unburst]: 'unburst', [Op.wait]: 'wait', [Op.complete]: 'complete', [Op.phys]: 'phys',
  [Op.irqalloc]: 'irqalloc',
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
    return this.allocWith(size, allocFlags(align, { reserved }));
  }

  /** An allocation with a flags word of allocFlags (4.1's mask and the caller's context). */
  allocWith(size: number, flags: number): boolean {
    const slot = this.free.pop();
    if (slot === undefined) return false;
    this.live.push(slot);
    this.ops.push(Op.alloc, slot, size, flags);
    return true;
  }

  /** The target's interrupt handler allocates (atomically unless `gfp` says otherwise). */
  irqAlloc(target: number, size: number, align: number, gfp: Gfp = Gfp.ATOMIC): void {
    this.ops.push(Op.irqalloc, target, size, align | (gfp << GFP_SHIFT));
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

/** Iterations one delay op may ask for (a scheduling point each). */
export const MAX_DELAY = 1_000_000;
/** The largest area an alloc op may ask for (pcpu_alloc refuses more than a unit anyway). */
export const MAX_ALLOC_SIZE = PCPU_MIN_UNIT_SIZE * 64;

const SLOT_OPS: ReadonlySet<number> = new Set([Op.alloc, Op.free, Op.irqfree, Op.touch, Op.phys]);

/** Why an alloc's or a burst's size and align words are wrong, or null. */
function areaError(size: number, flags: number, extra = 0): string | null {
  if (!(size >= 1 && size <= MAX_ALLOC_SIZE)) return `size ${size} is outside 1..${MAX_ALLOC_SIZE}`;
  const align = flags & 0xffff;
  if ((flags & ~(RESERVED | 0xffff | extra)) !== 0) return `align word ${flags} has bits other than the align${extra ? ', RESERVED, the mask and the context' : ' and RESERVED'}`;
  // any align a caller could pass, powers of two or not: what the allocator does with an odd one is for the checkers to judge
  if (align < 1) return `align ${align} is below 1`;
  const gfp = (flags >> GFP_SHIFT) & 7, ctx = (flags >> CTX_SHIFT) & 7;
  if (gfp >= GFP_WORD_NAMES.length) return `mask ${gfp} is not one of ${GFP_WORD_NAMES.map((n, i) => `${i} (${n})`).join(', ')}`;
  if (ctx >= CTX_NAMES.length) return `context ${ctx} is not 0..${CTX_NAMES.length - 1}`;
  return null;
}

const GFP_BITS = 7 << GFP_SHIFT;
const CTX_BITS = 7 << CTX_SHIFT;

/** Why op i of a program cannot run on a machine of `cpus` CPUs, or null. */
function opError(p: Int32Array, i: number, cpus: number): string | null {
  const o = i * OP_WORDS;
  const code = p[o]!, a = p[o + 1]!, b = p[o + 2]!, c = p[o + 3]!;
  if (!(code in OP_NAMES)) return `unknown code ${code}`;
  if (SLOT_OPS.has(code) && !(a >= 0 && a < MAX_SLOTS)) return `names slot ${a}, outside 0..${MAX_SLOTS - 1}`;
  const cw = OP_CPU_WORD[code as Op];
  if (cw !== undefined && !(p[o + cw]! >= 0 && p[o + cw]! < cpus)) return `aims at cpu${p[o + cw]}, the machine has ${cpus} CPUs (0..${cpus - 1})`;
  const unused = (...words: number[]): string | null => (words.some((x) => x !== 0) ? `${OP_NAMES[code]} takes fewer words: the unused ones must be 0` : null);
  switch (code) {
    case Op.alloc:
      return areaError(b, c, GFP_BITS | CTX_BITS);
    case Op.irqalloc:
      return areaError(b, c & ~RESERVED, GFP_BITS) ?? (c & RESERVED ? 'an interrupt handler\'s allocation cannot be reserved' : null);
    case Op.free:
      return b === FREE_PROCESS || b === FREE_IRQSAVE || b === FREE_PREEMPT_OFF ? unused(c) : `free context ${b} is not ${FREE_PROCESS}, ${FREE_IRQSAVE} or ${FREE_PREEMPT_OFF}`;
    case Op.irqfree:
    case Op.phys:
      return unused(c);
    case Op.touch:
    case Op.stuck:
      return code === Op.stuck ? unused(a, b, c) : unused(b, c);
    case Op.delay:
      return a >= 0 && a <= MAX_DELAY ? unused(b, c) : `a delay is 0..${MAX_DELAY} scheduling points, got ${a}`;
    case Op.burst:
      return a >= 0 && a <= MAX_BURST ? areaError(b, c) : `a burst is 0..${MAX_BURST} areas, got ${a}`;
    case Op.unburst:
      return a >= 0 && a <= MAX_BURST ? unused(b, c) : `an unburst is 0..${MAX_BURST} areas, got ${a}`;
    case Op.wait:
    case Op.complete:
      return a >= Lock.completion_a && a <= Lock.completion_b ? unused(b, c) : `only completions (${Lock.completion_a}..${Lock.completion_b}) can be waited for and completed, got ${a}`;
    case Op.lock:
    case Op.unlock:
      return a >= Lock.test_a && a <= Lock.test_irq_lock ? unused(b, c) : `only the test locks (${Lock.test_a}..${Lock.test_irq_lock}) can be named, got ${a}`;
  }
  return null;
}

/**
 * Check a program op by op against what the CPU threads run (every code,
 * slot, size, align, context, target, count and lock or completion id):
 * throws a TypeError naming the first bad op. Every program a run gets from
 * outside (a repro, a scenario file) goes through here first.
 */
export function checkProgram(p: Int32Array, cpus: number, where: string): void {
  if (p.length % OP_WORDS !== 0) throw new TypeError(`${where}: ${p.length} words is not a whole number of ${OP_WORDS}-word ops`);
  for (let i = 0; i < p.length / OP_WORDS; i++) {
    const why = opError(p, i, cpus);
    if (why) throw new TypeError(`${where}: op ${i} (${describeOp(p, i)}): ${why}`);
  }
}

/** A program from JSON ([[op, a, b, c], ...]), checked op by op for a machine of `cpus` CPUs. */
export function programFromJson(ops: unknown, where: string, cpus: number): Int32Array {
  if (!Array.isArray(ops)) throw new TypeError(`${where}: a program must be an array of ops`);
  const out = new Int32Array(ops.length * OP_WORDS);
  ops.forEach((op, i) => {
    if (!Array.isArray(op) || op.length !== OP_WORDS || !op.every((x) => Number.isSafeInteger(x))) {
      throw new TypeError(`${where}: op ${i} must be [op, a, b, c] integers`);
    }
    if (!op.every((x: number) => x >= -0x80000000 && x <= 0x7fffffff)) throw new TypeError(`${where}: op ${i}: a value does not fit in 32 bits`);
    out.set(op as number[], i * OP_WORDS);
  });
  checkProgram(out, cpus, where);
  return out;
}

/** One line per op, for reports: "alloc s3 64/8", "irqfree s3 -> cpu2". */
export function describeOp(p: Int32Array, i: number): string {
  const o = i * OP_WORDS;
  const [code, a, b, c] = [p[o]!, p[o + 1]!, p[o + 2]!, p[o + 3]!];
  switch (code) {
    case Op.alloc: {
      const gfp = (c >> GFP_SHIFT) & 7, ctx = (c >> CTX_SHIFT) & 7;
      return `alloc s${a} size ${b} align ${c & 0xffff}${c & RESERVED ? ' reserved' : ''}${gfp ? ` ${GFP_WORD_NAMES[gfp]}` : ''}${CTX_NAMES[ctx] ?? ''}`;
    }
    case Op.irqalloc:
      return `irqalloc cpu${a}'s handler size ${b} align ${c & 0xffff} ${GFP_WORD_NAMES[(c >> GFP_SHIFT) & 7]}`;
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
    case Op.delay:
      return `delay ${a}`;
    default:
      return `op ${code}`;
  }
}
