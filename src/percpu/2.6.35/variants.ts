// The table a machine boots from: 2.6.35's functions, and the variants that
// replace some of them. Adding a historical bug or a later fix is one file
// (history/ or later/) and one line here.

import type { HistoricalBug, LaterFix } from '../variant.ts';
import { type PcpuOps, addrInFirstChunk, extendAreaMap, freePercpu, lockIndex, pcpuAlloc, pcpuReclaim, perCpuPtrToPhys, populateArea, unlockIndex } from './core.ts';
import { mapPages } from './backend-vm.ts';
import { processOneWork } from '../../workqueue/workqueue.ts';
import { reclaimEarlyUnlock } from './history/reclaim-early-unlock.ts';
import { allocIrqRestore } from './history/alloc-irq-restore.ts';
import { extendNoRestart } from './history/extend-no-restart.ts';
import { extendFreeUnderLock } from './history/extend-free-under-lock.ts';
import { singleMutex } from './history/single-mutex.ts';
import { allocPlainSpinlock } from './history/alloc-plain-spinlock.ts';
import { reclaimNoMutex } from './history/reclaim-no-mutex.ts';
import { reclaimLockInversion } from './history/reclaim-lock-inversion.ts';
import { workqueueLostWakeup } from './history/workqueue-lost-wakeup.ts';
import { walkSafe } from './later/walk-safe.ts';
import { allocClearsArea } from './later/alloc-clears-area.ts';
import { mapPagesUnwind } from './later/map-pages-unwind.ts';
import { physOffsetInPage } from './later/phys-offset-in-page.ts';
import { physFirstChunkUnits } from './later/phys-first-chunk-units.ts';

export type { Variant, HistoricalBug, LaterFix } from '../variant.ts';

/** Linux 2.6.35. */
export const BASELINE: Readonly<PcpuOps> = {
  alloc: pcpuAlloc, lockIndex, unlockIndex, populateArea, extendAreaMap, free: freePercpu, reclaim: pcpuReclaim, perCpuPtrToPhys,
  addrInFirstChunk, mapPages, processOneWork,
};

/** The historical bug corpus (--inject NAME): each one the code before its fix. Booted as number index + 1. */
export const BUGS: readonly HistoricalBug<PcpuOps>[] = [
  reclaimEarlyUnlock,
  allocIrqRestore,
  extendNoRestart,
  extendFreeUnderLock,
  singleMutex,
  allocPlainSpinlock,
  reclaimNoMutex,
  reclaimLockInversion,
  workqueueLostWakeup,
];

/**
 * Later kernels' fixes of 2.6.35's known issues, switched on to prove a
 * finding is that issue. Each replaces functions no other fix replaces, so
 * any of them boot together: a machine boots a set of them, bit (index) each.
 */
export const FIXES: readonly LaterFix<PcpuOps>[] = [walkSafe, allocClearsArea, mapPagesUnwind, physOffsetInPage, physFirstChunkUnits];

export function bugByName(name: string): HistoricalBug<PcpuOps> | undefined {
  return BUGS.find((b) => b.name === name);
}

/** The number a bug is booted by (0: none). */
export function bugId(name: string | null | undefined): number {
  return name ? BUGS.findIndex((b) => b.name === name) + 1 : 0;
}

export function fixFor(knownIssue: string): LaterFix<PcpuOps> | undefined {
  return FIXES.find((f) => f.fixes === knownIssue);
}

/** The bit of a fix in a set of fixes. */
export function fixBit(v: LaterFix<PcpuOps>): number {
  return 1 << FIXES.indexOf(v);
}

/** Does a bug replace a function one of the fixes replaces (they cannot be booted together)? */
export function conflicts(bug: number, fixes: number): boolean {
  const b = BUGS[bug - 1];
  if (!b) return false;
  return FIXES.some((f, i) => (fixes & (1 << i)) !== 0 && Object.keys(f.ops).some((k) => k in b.ops));
}

/** The functions a machine boots with bug number `bug` (0: none) and the set of fixes `fixes` in place. */
export function opsFor(bug: number, fixes: number): PcpuOps {
  let ops: PcpuOps = { ...BASELINE, ...(BUGS[bug - 1]?.ops ?? {}) };
  FIXES.forEach((f, i) => {
    if (fixes & (1 << i)) ops = { ...ops, ...f.ops };
  });
  return ops;
}

// every fix boots with every other one
FIXES.forEach((f, i) => FIXES.forEach((g, j) => {
  if (i < j && Object.keys(f.ops).some((k) => k in g.ops)) throw new Error(`fixes ${f.name} and ${g.name} replace the same function`);
}));

