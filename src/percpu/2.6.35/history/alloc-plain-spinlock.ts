// pcpu_alloc taking pcpu_lock without disabling irqs (a classic): an
// interrupt on the same CPU that frees a percpu area then spins on the lock
// its own CPU holds.

import type { Cpu } from '../../../sync/cpu.ts';
import { Lock } from '../../../sync/locks.ts';
import type { Percpu, PcpuOps } from '../core.ts';
import type { HistoricalBug } from '../../variant.ts';

function lockIndex(_p: Percpu, cpu: Cpu): number {
  cpu.spinLock(Lock.pcpu_lock);
  return 0;
}

function unlockIndex(_p: Percpu, cpu: Cpu, _flags: number): void {
  cpu.spinUnlock(Lock.pcpu_lock);
}

export const allocPlainSpinlock: HistoricalBug<PcpuOps> = {
  name: 'alloc-plain-spinlock', commit: '', subject: 'classic: spin_lock where an interrupt takes the same lock',
  summary: 'pcpu_alloc takes pcpu_lock without disabling irqs while free_percpu takes it in hardirq context',
  scenario: 'irq-free', expect: ['lockdep-inconsistent', 'spinlock-recursion', 'deadlock'],
  ops: { lockIndex, unlockIndex },
};
