// The lock table: every lock the emulated kernel has, each its own lockdep
// class. The first five are the kernel's; the rest serve the lock tests.

export enum Lock {
  pcpu_alloc_mutex = 0,
  pcpu_lock = 1,
  vmap_area_lock = 2,
  /** lockdep map of the reclaim work item, held while the work runs */
  pcpu_reclaim_work = 3,
  /** lockdep map of the events workqueue, held while any of its work runs */
  wq_events = 4,
  test_a = 5,
  test_b = 6,
  test_c = 7,
  test_mutex_a = 8,
  test_mutex_b = 9,
  test_irq_lock = 10,
  /** a lock of the caller's own (a driver's), held around some frees */
  caller_lock = 11,
  /** completions (wait_for_completion/complete) that order directed scenarios; not lockdep-tracked */
  completion_a = 12,
  completion_b = 13,
  /** lockdep map of 4.1's pcpu_balance_work, held while the work runs */
  pcpu_balance_work = 14,
  /** lockdep map of 4.1's chunk->map_extend_work items (one class: one INIT_WORK site) */
  map_extend_work = 15,
}

export const NR_LOCKS = 16;
export const FIRST_COMPLETION = Lock.completion_a;
export const LAST_COMPLETION = Lock.completion_b;

/** Is lock-table entry `l` a completion (wait_for_completion/complete), not a lock? */
export function isCompletion(l: number): boolean {
  return l >= FIRST_COMPLETION && l <= LAST_COMPLETION;
}

export const LOCK_NAMES: readonly string[] = [
  'pcpu_alloc_mutex', 'pcpu_lock', 'vmap_area_lock', '(pcpu_reclaim_work)', '(wq_completion)events',
  'test_lock_a', 'test_lock_b', 'test_lock_c', 'test_mutex_a', 'test_mutex_b', 'test_irq_lock', '&dev->lock',
  'completion_a', 'completion_b', '(pcpu_balance_work)', '(&chunk->map_extend_work)',
];

export const LOCK_IS_MUTEX: readonly boolean[] = [
  true, false, false, false, false, false, false, false, true, true, false, false, false, false, false, false,
];

/** Lockdep-only maps: acquired for dependency tracking, never really locked. */
export const LOCK_IS_MAP: readonly boolean[] = [
  false, false, false, true, true, false, false, false, false, false, false, false, false, false, true, true,
];

export function lockName(l: number): string {
  return LOCK_NAMES[l] ?? `lock#${l}`;
}
