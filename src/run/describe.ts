// Every CPU's state as the kernel's "Showing all CPUs" prints it: what the
// watchdog's reports end with, and what a run cut by its budget keeps
// (both engines).

import { X } from '../sync/records.ts';
import { CpuState } from '../sync/cpu.ts';
import { lockName } from '../sync/locks.ts';
import type { Kernel } from './machine.ts';

export function describeCpu(k: Kernel, e: number): string {
  const cpu = k.cpu(e);
  const w = k.shm.w;
  const state = CpuState[w[cpu.x + X.STATE]!] ?? '?';
  const waiting = w[cpu.x + X.STATE] === CpuState.blocked || w[cpu.x + X.STATE] === CpuState.spinning ? ` on ${lockName(w[cpu.x + X.WAIT_LOCK]!)}` : '';
  let out = `${cpu.name}: ${state}${waiting}, program op ${w[cpu.x + X.CUR_OP]}, ${cpu.steps()} steps\n`;
  out += cpu.heldSection().replace(/^/gm, '  ').replace(/ +$/, '');
  const stack = cpu.stack();
  if (stack.length) out += `  current operation: ${stack.join(' <- ')}\n`;
  return out;
}

export function allCpus(k: Kernel): string {
  let out = '\nShowing all CPUs:\n';
  for (let e = 0; e < k.shm.L.nrEntities; e++) out += describeCpu(k, e);
  return out;
}
