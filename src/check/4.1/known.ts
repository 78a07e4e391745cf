// Known issues of Linux 4.1, proven by their mechanism and their fix, like
// 2.6.35's (src/check/known.ts). None is listed until the harness has judged
// the faithful port and what it found has been matched with what later
// kernels changed.

import type { KnownIssue } from '../known.ts';
import type { Violation } from '../../report/violation.ts';
import type { Shm } from '../../shm/layout.ts';
import type { Cpu } from '../../sync/cpu.ts';
import type { Mechanism41Hooks } from '../../percpu/4.1/hooks.ts';

export const KNOWN_ISSUES_41: readonly KnownIssue[] = [];

/** The recorder of 4.1's mechanisms (one per thread). */
export class Mechanism41Recorder implements Mechanism41Hooks {
  constructor(readonly shm: Shm) {}
  reset(): void {}
  walkScanFailed(): void {}
  walkDone(): void {}
}

/** The 4.1 known issue whose mechanism fired for this finding, or undefined. */
export function attributeMechanism41(_shm: Shm, _cpu: Cpu, _v: Violation): string | undefined {
  return undefined;
}
