// The held-lock stack of a CPU context, in its shared record: lock, the
// function that took it, the irq context it was taken in, and whether it was
// a trylock. LOCKMASK mirrors the locks held by the current context (the
// task, or the interrupt being handled) as bits, for the lock rules.

import { HL, MAX_HELD, X } from './records.ts';
import { lockName } from './locks.ts';
import { siteName } from './sites.ts';
import type { HeldLockInfo } from '../report/violation.ts';
import type { LockdepHooks } from './hooks.ts';

export function heldDepth(w: Int32Array, x: number): number {
  return w[x + X.HELD_DEPTH]!;
}

export function heldField(w: Int32Array, x: number, i: number, f: HL): number {
  return w[x + X.HELD + i * HL.SIZE + f]!;
}

export function pushHeld(w: Int32Array, x: number, lock: number, site: number, irqCtx: number, trylock: boolean): void {
  const d = w[x + X.HELD_DEPTH]!;
  if (d < MAX_HELD) {
    const e = x + X.HELD + d * HL.SIZE;
    w[e + HL.LOCK] = lock;
    w[e + HL.SITE] = site;
    w[e + HL.IRQ_CTX] = irqCtx;
    w[e + HL.FLAGS] = trylock ? 1 : 0;
    w[x + X.HELD_DEPTH] = d + 1;
  }
  w[x + X.LOCKMASK] = w[x + X.LOCKMASK]! | (1 << lock);
}

/** Recompute the current context's lock mask from the held stack. */
export function remask(w: Int32Array, x: number, irqCtx: number): void {
  let m = 0;
  for (let i = w[x + X.HELD_DEPTH]! - 1; i >= 0; i--) if (heldField(w, x, i, HL.IRQ_CTX) === irqCtx) m |= 1 << heldField(w, x, i, HL.LOCK);
  w[x + X.LOCKMASK] = m;
}

/** Remove a lock from the held stack; false when it was not held. */
export function popHeld(w: Int32Array, x: number, lock: number, irqCtx: number): boolean {
  const d = w[x + X.HELD_DEPTH]!;
  for (let i = d - 1; i >= 0; i--) {
    if (heldField(w, x, i, HL.LOCK) !== lock) continue;
    // the entries above it move down one (a loop: copyWithin on shared memory is a slow runtime call)
    for (let at = x + X.HELD + i * HL.SIZE, end = x + X.HELD + (d - 1) * HL.SIZE; at < end; at++) w[at] = w[at + HL.SIZE]!;
    w[x + X.HELD_DEPTH] = d - 1;
    remask(w, x, irqCtx);
    return true;
  }
  return false;
}

export function holds(w: Int32Array, x: number, lock: number): boolean {
  for (let i = w[x + X.HELD_DEPTH]! - 1; i >= 0; i--) if (heldField(w, x, i, HL.LOCK) === lock) return true;
  return false;
}

/** The held locks as a report shows them: "(pcpu_lock){-.-.}" and where each was taken. */
export function heldLocks(w: Int32Array, x: number, ld: LockdepHooks | null): HeldLockInfo[] {
  const out: HeldLockInfo[] = [];
  for (let i = 0; i < w[x + X.HELD_DEPTH]!; i++) {
    const l = heldField(w, x, i, HL.LOCK);
    out.push({ lock: `(${lockName(l)})${ld ? ld.usageString(l) : ''}`, at: siteName(heldField(w, x, i, HL.SITE)) });
  }
  return out;
}

/** The "N locks held by ..." section of a report. */
export function heldSection(held: readonly HeldLockInfo[], who: string): string {
  if (!held.length) return `no locks held by ${who}.\n`;
  let out = `${held.length} lock${held.length > 1 ? 's' : ''} held by ${who}:\n`;
  held.forEach((hl, i) => (out += ` #${i}:  ${hl.lock}, at: ${hl.at}\n`));
  return out;
}
