// Lockdep: one lock validator for all threads, its state in shared memory.
//
// It learns from every acquisition on every CPU: which lock classes are
// taken while which others are held (a dependency graph, each edge with the
// CPU and site where it was first seen), and in which irq contexts each
// class is used (taken in hardirq context; taken with hardirqs enabled). A
// report comes at the first observation of a bad order, whether or not
// anything deadlocked in this run:
//
//   - a new edge that closes a cycle: possible circular locking dependency
//   - a class taken again while held: possible recursive locking
//   - a class used in hardirq context and also with hardirqs enabled:
//     inconsistent lock state
//   - a new edge from a hardirq-safe class to a hardirq-unsafe one:
//     HARDIRQ-safe -> HARDIRQ-unsafe lock order
//   - a class becoming hardirq-safe (unsafe) while it already reaches (is
//     reached by) an unsafe (safe) one: possible irq lock inversion
//   - a release of a lock that is not held: bad unlock balance
//
// The fast path (edge and usage already known) only reads the graph; a new
// fact takes the graph lock, a raw lock lockdep itself does not track.
// Each report is made once per run (per kind and pair of classes).

import type { Shm } from '../shm/layout.ts';
import { CHAIN_WORDS, LD, MAX_CHAIN, MAX_CHAINS, MAX_CLASSES } from './records.ts';
import type { Cpu, LockdepHooks } from '../sync/cpu.ts';
import { lockName } from '../sync/locks.ts';
import { siteName } from '../sync/sites.ts';
import { rawLock, rawUnlock } from '../sync/raw.ts';
import type { ViolationKind } from '../report/violation.ts';
import * as R from './report.ts';

import { ENABLED_HARDIRQ, ENABLED_SOFTIRQ, USAGE_BITS, USED_IN_HARDIRQ, type DepEdge, type UsageSite } from './usage.ts';

export { ENABLED_HARDIRQ, ENABLED_SOFTIRQ, USED_IN_HARDIRQ, type DepEdge, type UsageSite } from './usage.ts';

enum Rep {
  circular = 0,
  recursive = 1,
  inconsistent = 2,
  unsafeOrder = 3,
  inversion = 4,
  badUnlock = 5,
}

const N = MAX_CLASSES;

export class Lockdep implements LockdepHooks, R.LockGraphView {
  private readonly w: Int32Array;
  private readonly L: Shm['L'];
  private readonly graphLock: number;
  private readonly queue = new Int32Array(N);
  private readonly parent = new Int32Array(N);
  /** findPath's visited set (kept: a search runs for every new usage bit and dependency, each run learns them anew). */
  private readonly seen = new Uint8Array(N);

  constructor(readonly shm: Shm) {
    this.w = shm.w;
    this.L = shm.L;
    this.graphLock = shm.L.lockdep + LD.GRAPH_LOCK;
  }

  usage(c: number): number {
    return this.w[this.L.ldUsage + c]!;
  }
  hasDep(a: number, b: number): boolean {
    return this.w[this.L.ldDeps + a * N + b] !== 0;
  }
  usageSite(c: number, bit: number): UsageSite | null {
    const i = USAGE_BITS.indexOf(bit as (typeof USAGE_BITS)[number]);
    const site = this.w[this.L.ldUsageSite + c * 4 + i]!;
    return site ? { cpu: this.w[this.L.ldUsageCpu + c * 4 + i]!, site: siteName(site - 1) } : null;
  }
  edge(a: number, b: number): DepEdge | null {
    const i = a * N + b;
    if (!this.w[this.L.ldDeps + i]) return null;
    return { from: a, to: b, cpu: this.w[this.L.ldDepCpu + i]!, site: siteName(this.w[this.L.ldDepSite + i]!), prevSite: siteName(this.w[this.L.ldDepPrevSite + i]!) };
  }
  edges(): DepEdge[] {
    const out: DepEdge[] = [];
    for (let a = 0; a < N; a++) for (let b = 0; b < N; b++) {
      const e = this.edge(a, b);
      if (e) out.push(e);
    }
    return out;
  }

  /** {+.+.}: hardirq write/read, softirq write/read; '-' used in irq, '+' irqs on, '?' both. */
  usageString(c: number): string {
    const u = this.usage(c);
    const hard = u & USED_IN_HARDIRQ ? (u & ENABLED_HARDIRQ ? '?' : '-') : u & ENABLED_HARDIRQ ? '+' : '.';
    const soft = u & ENABLED_SOFTIRQ ? '+' : '.';
    return `{${hard}.${soft}.}`;
  }

  /** Mark a report as made; false when it was made before. */
  private once(rep: Rep, a: number, b: number): boolean {
    return Atomics.compareExchange(this.w, this.L.ldReported + rep * N * N + a * N + b, 0, 1) === 0;
  }

  // ---- graph search -------------------------------------------------------------
  /** Classes on a path from `from` to `to` (both included), or null. Forward along edges. */
  findPath(from: number, to: number): number[] | null {
    if (from === to) return [from];
    const seen = this.seen;
    seen.fill(0);
    const q = this.queue;
    let head = 0, tail = 0;
    q[tail++] = from;
    seen[from] = 1;
    while (head < tail) {
      const c = q[head++]!;
      for (let d = 0; d < N; d++) {
        if (seen[d] || !this.hasDep(c, d)) continue;
        seen[d] = 1;
        this.parent[d] = c;
        if (d === to) {
          const path = [d];
          for (let x = d; x !== from; ) path.unshift((x = this.parent[x]!));
          return path;
        }
        q[tail++] = d;
      }
    }
    return null;
  }

  /** A class with usage `bit` reachable from (forward) or reaching (backward) `c`, itself included. */
  findUsage(c: number, bit: number, forward: boolean): number {
    if (this.usage(c) & bit) return c;
    for (let d = 0; d < N; d++) {
      if (d === c) continue;
      const linked = forward ? this.findPath(c, d) : this.findPath(d, c);
      if (linked && this.usage(d) & bit) return d;
    }
    return -1;
  }

  // ---- hooks ----------------------------------------------------------------------
  acquire(cpu: Cpu, lock: number, trylock: boolean): void {
    if (cpu.inIrq()) this.markUsage(cpu, lock, USED_IN_HARDIRQ);
    else {
      if (!cpu.irqsDisabled()) this.markUsage(cpu, lock, ENABLED_HARDIRQ);
      this.markUsage(cpu, lock, ENABLED_SOFTIRQ);
    }
    const ctx = cpu.hardirqDepth();
    const depth = cpu.heldDepth();
    if (!trylock) {
      for (let i = depth - 1; i >= 0 && cpu.heldIrqCtx(i) === ctx; i--) {
        if (cpu.heldLock(i) === lock) {
          if (this.once(Rep.recursive, lock, lock)) this.emit(cpu, 'lockdep-recursive', R.recursive(this, cpu, lock, i));
          return;
        }
      }
    } else {
      return; // a trylock cannot wait, so it adds no dependency
    }
    for (let i = depth - 1; i >= 0 && cpu.heldIrqCtx(i) === ctx; i--) {
      this.addDep(cpu, cpu.heldLock(i), lock, cpu.heldSite(i));
      if (!cpu.heldTrylock(i)) break; // earlier locks already lead here through this one
    }
    this.noteChain(cpu, lock, ctx, depth);
  }

  /** Remember the chain of classes held in this irq context (lockdep's chain cache). */
  private noteChain(cpu: Cpu, lock: number, ctx: number, depth: number): void {
    let first = depth;
    while (first > 0 && cpu.heldIrqCtx(first - 1) === ctx) first--;
    if (depth - first + 1 > MAX_CHAIN) return;
    let hash = (ctx + 1) | 0;
    for (let i = first; i < depth; i++) hash = (Math.imul(hash, 31) + cpu.heldLock(i) + 1) | 0;
    hash = (Math.imul(hash, 31) + lock + 1) | 0 || 1;
    const base = this.L.ldChains;
    const start = (hash >>> 0) % MAX_CHAINS;
    for (let n = 0; n < MAX_CHAINS; n++) {
      const at = base + ((start + n) % MAX_CHAINS) * CHAIN_WORDS;
      const h = Atomics.load(this.w, at);
      if (h === hash) return;
      if (h !== 0) continue;
      rawLock(this.w, this.graphLock);
      if (this.w[at] === 0) {
        this.w[at + 1] = ctx;
        this.w[at + 2] = depth - first + 1;
        for (let i = first; i < depth; i++) this.w[at + 3 + i - first] = cpu.heldLock(i);
        this.w[at + 3 + depth - first] = lock;
        Atomics.store(this.w, at, hash);
        rawUnlock(this.w, this.graphLock);
        return;
      }
      rawUnlock(this.w, this.graphLock);
      if (this.w[at] === hash) return;
    }
  }

  /** The distinct chains seen: irq context and classes, outermost first. */
  chains(): { irqContext: number; classes: number[] }[] {
    const out: { irqContext: number; classes: number[] }[] = [];
    for (let c = 0; c < MAX_CHAINS; c++) {
      const at = this.L.ldChains + c * CHAIN_WORDS;
      if (this.w[at] === 0) continue;
      const len = this.w[at + 2]!;
      out.push({ irqContext: this.w[at + 1]!, classes: Array.from(this.w.subarray(at + 3, at + 3 + len)) });
    }
    return out.sort((a, b) => a.irqContext - b.irqContext || a.classes.join().localeCompare(b.classes.join()));
  }

  release(cpu: Cpu, lock: number): void {
    if (cpu.holds(lock)) return;
    if (this.once(Rep.badUnlock, lock, cpu.id % N)) this.emit(cpu, 'lockdep-bad-unlock', R.badUnlock(this, cpu, lock));
  }

  private markUsage(cpu: Cpu, c: number, bit: number): void {
    // the usual case, known already: kept apart from the reporting closures below
    if (this.w[this.L.ldUsage + c]! & bit) return;
    this.newUsage(cpu, c, bit);
  }

  private newUsage(cpu: Cpu, c: number, bit: number): void {
    const at = this.L.ldUsage + c;
    rawLock(this.w, this.graphLock);
    const before = this.w[at]!;
    if (before & bit) {
      rawUnlock(this.w, this.graphLock);
      return;
    }
    this.w[at] = before | bit;
    const i = USAGE_BITS.indexOf(bit as (typeof USAGE_BITS)[number]);
    this.w[this.L.ldUsageSite + c * 4 + i] = cpu.site() + 1;
    this.w[this.L.ldUsageCpu + c * 4 + i] = cpu.id;
    let report: (() => void) | null = null;
    if (bit === USED_IN_HARDIRQ) {
      if (before & ENABLED_HARDIRQ) {
        if (this.once(Rep.inconsistent, c, 0)) report = () => this.emit(cpu, 'lockdep-inconsistent', R.inconsistent(this, cpu, c, true));
      } else {
        const unsafe = this.findUsage(c, ENABLED_HARDIRQ, true);
        if (unsafe >= 0 && this.once(Rep.inversion, c, unsafe)) report = () => this.emit(cpu, 'lockdep-irq-inversion', R.inversion(this, cpu, c, unsafe, true));
      }
    } else if (bit === ENABLED_HARDIRQ) {
      if (before & USED_IN_HARDIRQ) {
        if (this.once(Rep.inconsistent, c, 1)) report = () => this.emit(cpu, 'lockdep-inconsistent', R.inconsistent(this, cpu, c, false));
      } else {
        const safe = this.findUsage(c, USED_IN_HARDIRQ, false);
        if (safe >= 0 && this.once(Rep.inversion, safe, c)) report = () => this.emit(cpu, 'lockdep-irq-inversion', R.inversion(this, cpu, c, safe, false));
      }
    }
    rawUnlock(this.w, this.graphLock);
    report?.();
  }

  private addDep(cpu: Cpu, prev: number, next: number, prevSite: number): void {
    if (this.w[this.L.ldDeps + prev * N + next] !== 0) return;
    this.newDep(cpu, prev, next, prevSite);
  }

  private newDep(cpu: Cpu, prev: number, next: number, prevSite: number): void {
    const i = prev * N + next;
    rawLock(this.w, this.graphLock);
    if (this.w[this.L.ldDeps + i] !== 0) {
      rawUnlock(this.w, this.graphLock);
      return;
    }
    let report: (() => void) | null = null;
    const cycle = this.findPath(next, prev);
    if (cycle) {
      if (this.once(Rep.circular, prev, next)) report = () => this.emit(cpu, 'lockdep-circular', R.circular(this, cpu, prev, next, cycle));
    } else {
      const safe = this.findUsage(prev, USED_IN_HARDIRQ, false);
      const unsafe = safe >= 0 ? this.findUsage(next, ENABLED_HARDIRQ, true) : -1;
      if (unsafe >= 0) {
        if (this.once(Rep.unsafeOrder, safe, unsafe)) report = () => this.emit(cpu, 'lockdep-irq-unsafe-order', R.unsafeOrder(this, cpu, prev, next, safe, unsafe));
      } else {
        this.w[this.L.ldDepSite + i] = cpu.site();
        this.w[this.L.ldDepPrevSite + i] = prevSite;
        this.w[this.L.ldDepCpu + i] = cpu.id;
        this.w[this.L.ldDepStep + i] = cpu.steps();
        Atomics.store(this.w, this.L.ldDeps + i, 1);
      }
    }
    rawUnlock(this.w, this.graphLock);
    report?.();
  }

  private emit(cpu: Cpu, kind: ViolationKind, r: R.Rendered): void {
    cpu.report(kind, r.title, r.body, false, r.details, true);
  }

  name(c: number): string {
    return `(${lockName(c)})${this.usageString(c)}`;
  }
}
