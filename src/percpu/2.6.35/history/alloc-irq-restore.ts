// pcpu_alloc before 403a91b1659c ("percpu: allow pcpu_alloc() to be called
// with IRQs off"): pcpu_lock was taken with spin_lock_irq and released with
// spin_unlock_irq, so a caller that had irqs off got them back on.

import type { Cpu } from '../../../sync/cpu.ts';
import { Lock } from '../../../sync/locks.ts';
import type { Percpu, PcpuOps } from '../core.ts';
import type { HistoricalBug } from '../../variant.ts';

function lockIndex(_p: Percpu, cpu: Cpu): number {
  cpu.spinLockIrq(Lock.pcpu_lock);
  return 0;
}

function unlockIndex(_p: Percpu, cpu: Cpu, _flags: number): void {
  cpu.spinUnlockIrq(Lock.pcpu_lock);
}

export const allocIrqRestore: HistoricalBug<PcpuOps> = {
  name: 'alloc-irq-restore', commit: '403a91b1659c', subject: 'percpu: allow pcpu_alloc() to be called with IRQs off',
  summary: 'pcpu_alloc uses spin_lock_irq/spin_unlock_irq and returns with irqs enabled to a caller that had them off',
  scenario: 'boot', expect: ['irq-state', 'irqs-enabled-early'],
  ops: { lockIndex, unlockIndex },
};
