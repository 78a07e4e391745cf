// How reports name the suite of a kernel's runs (JUnit testsuite, KTAP's top line).

import { DEFAULT_KERNEL, type KernelVersion } from '../shm/config.ts';

/** A report's suite name: the kernel's (2.6.35's is the tool's own, as it always was). */
export function suiteName(kernel: KernelVersion): string {
  return kernel === DEFAULT_KERNEL ? 'percpu-stress' : `percpu-stress-${kernel}`;
}
