// The historical bug corpus: each entry switches the real code path back to
// what the kernel did before the fix. The flag is read where the pre-fix
// code differed (pcpu_alloc, pcpu_extend_area_map, free_percpu,
// pcpu_reclaim, the workqueue); there is no separate fake implementation.

import type { ViolationKind } from '../report/violation.ts';

export enum Bug {
  none = 0,
  reclaim_early_unlock = 1,
  alloc_irq_restore = 2,
  extend_no_restart = 3,
  extend_free_under_lock = 4,
  single_mutex = 5,
  alloc_plain_spinlock = 6,
  reclaim_no_mutex = 7,
  reclaim_lock_inversion = 8,
  workqueue_lost_wakeup = 9,
}

export interface BugInfo {
  bug: Bug;
  name: string;
  commit: string; // kernel fix, '' when the bug is a classic rather than a commit
  summary: string;
  /** The scenario that exposes it best. */
  scenario: string;
  /** What must catch it (DESIGN.md): any of these kinds counts as caught. */
  expect: ViolationKind[];
}

export const BUGS: readonly BugInfo[] = [
  {
    bug: Bug.reclaim_early_unlock, name: 'reclaim-early-unlock', commit: '971f3918a5a8 percpu: fix pcpu_reclaim() locking',
    summary: 'pcpu_reclaim drops pcpu_alloc_mutex before depopulating, racing allocations on the shared temp pages array',
    scenario: 'reclaim-populate', expect: ['temp-buffer-race', 'page-double-free', 'use-after-free', 'lock-discipline', 'data-race'],
  },
  {
    bug: Bug.alloc_irq_restore, name: 'alloc-irq-restore', commit: '403a91b1659c percpu: allow pcpu_alloc() to be called with IRQs off',
    summary: 'pcpu_alloc uses spin_lock_irq/spin_unlock_irq and returns with irqs enabled to a caller that had them off',
    scenario: 'boot', expect: ['irq-state', 'irqs-enabled-early'],
  },
  {
    bug: Bug.extend_no_restart, name: 'extend-no-restart', commit: '833af8427be4 percpu: fix pcpu_alloc() locking (part a)',
    summary: 'after dropping pcpu_lock to extend an area map, the slot walk goes on from a chunk a racing free may have moved',
    scenario: 'extend-walk', expect: ['list-corruption', 'invariant'],
  },
  {
    bug: Bug.extend_free_under_lock, name: 'extend-free-under-lock', commit: '833af8427be4 percpu: fix pcpu_alloc() locking (part b)',
    summary: 'pcpu_extend_area_map frees the old map (vfree takes the irq-unsafe vmap_area_lock) with pcpu_lock held',
    scenario: 'map-extend-race', expect: ['lockdep-irq-unsafe-order', 'lockdep-irq-inversion'],
  },
  {
    bug: Bug.single_mutex, name: 'single-mutex', commit: 'ccea34b5d0fb percpu: finer grained locking to break deadlock and allow atomic free',
    summary: 'one mutex serializes alloc and free, so free_percpu sleeps and cannot be called from atomic context',
    scenario: 'irq-free', expect: ['sleep-in-atomic'],
  },
  {
    bug: Bug.alloc_plain_spinlock, name: 'alloc-plain-spinlock', commit: '',
    summary: 'pcpu_alloc takes pcpu_lock without disabling irqs while free_percpu takes it in hardirq context',
    scenario: 'irq-free', expect: ['lockdep-inconsistent', 'spinlock-recursion', 'deadlock'],
  },
  {
    bug: Bug.reclaim_no_mutex, name: 'reclaim-no-mutex', commit: '',
    summary: 'pcpu_reclaim unlinks and destroys chunks under pcpu_lock alone while an allocation still uses one with only the mutex',
    scenario: 'reclaim-extend', expect: ['use-after-free', 'lock-discipline', 'data-race'],
  },
  {
    bug: Bug.reclaim_lock_inversion, name: 'reclaim-lock-inversion', commit: '',
    summary: 'pcpu_reclaim takes pcpu_lock before pcpu_alloc_mutex, the reverse of the allocation path',
    scenario: 'reclaim-race', expect: ['lockdep-circular', 'deadlock'],
  },
  {
    bug: Bug.workqueue_lost_wakeup, name: 'workqueue-lost-wakeup', commit: '',
    summary: 'the work pending bit is cleared after the work function ran, so a reclaim request made meanwhile is lost',
    scenario: 'reclaim-requeue', expect: ['leak'],
  },
];

export function bugByName(name: string): BugInfo | undefined {
  return BUGS.find((b) => b.name === name);
}

export function bugInfo(bug: Bug): BugInfo | undefined {
  return BUGS.find((b) => b.bug === bug);
}
