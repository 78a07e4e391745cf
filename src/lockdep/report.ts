// Lockdep's reports, in the kernel's words and layout, and the same content
// as data. The held-locks section and the backtrace are added by the CPU
// context (Cpu.report with a banner).

import type { Cpu } from '../sync/cpu.ts';
import { lockName } from '../sync/locks.ts';
import { siteName } from '../sync/sites.ts';
import { ENABLED_HARDIRQ, USED_IN_HARDIRQ, type DepEdge, type UsageSite } from './usage.ts';

/** What a report reads from the dependency graph. */
export interface LockGraphView {
  name(c: number): string;
  edge(a: number, b: number): DepEdge | null;
  usageSite(c: number, bit: number): UsageSite | null;
}

export interface Rendered {
  title: string;
  body: string;
  details: Record<string, unknown>;
}

const COL = 31; // where the CPU1 column starts

function task(cpu: Cpu): string {
  return `${cpu.name}/${cpu.id}`;
}

function irqState(cpu: Cpu): string {
  const hc = cpu.inIrq() ? 1 : 0;
  return `[HC${hc}[${cpu.hardirqDepth()}]:SC0[0]:HE${cpu.irqsDisabled() ? 0 : 1}:SE1]`;
}

/** The name of CPU (or kworker) `id` where the kernel prints comm/pid. */
function who(cpu: Cpu, id: number): string {
  return id < cpu.host.nrCpus ? `cpu${id}` : 'kworker/0:1';
}

function usageAt(ld: LockGraphView, cpu: Cpu, c: number, bit: number): string {
  const u = ld.usageSite(c, bit);
  return u ? `  ${who(cpu, u.cpu)}: ${u.site}\n` : '  (unknown)\n';
}

function scenario(rows: [0 | 1, string][]): string {
  let out = '       CPU0                    CPU1\n       ----                    ----\n';
  for (const [col, text] of rows) out += col === 0 ? `  ${text}\n` : `${' '.repeat(COL)}${text}\n`;
  return out;
}

export function circular(ld: LockGraphView, cpu: Cpu, prev: number, next: number, chain: number[]): Rendered {
  // chain: next -> ... -> prev, the dependency that already exists
  const title = 'WARNING: possible circular locking dependency detected';
  let body = `${task(cpu)} is trying to acquire lock:\n ${ld.name(next)}, at: ${siteName(cpu.site())}\n\n`;
  body += `but task is already holding lock:\n ${ld.name(prev)}, at: ${heldAt(cpu, prev)}\n\n`;
  body += 'which lock already depends on the new lock.\n\n\nthe existing dependency chain (in reverse order) is:\n';
  const links: { lock: string; cpu: number; at: string; held: string }[] = [];
  for (let i = chain.length - 1; i >= 1; i--) {
    const e = ld.edge(chain[i - 1]!, chain[i]!)!;
    body += `\n-> #${i} ${ld.name(chain[i]!)}:\n       ${who(cpu, e.cpu)}: ${e.site} (holding ${lockName(chain[i - 1]!)} from ${e.prevSite})\n`;
    links.push({ lock: lockName(chain[i]!), cpu: e.cpu, at: e.site, held: lockName(chain[i - 1]!) });
  }
  body += `\n-> #0 ${ld.name(next)}:\n       ${who(cpu, cpu.id)}: ${siteName(cpu.site())}\n`;
  body += '\nother info that might help us debug this:\n\n';
  const parent = chain.length > 2 ? chain[chain.length - 2]! : next;
  if (chain.length > 2) body += `Chain exists of:\n  ${chain.map((c) => lockName(c)).join(' --> ')}\n\n`;
  const table: [0 | 1, string][] = [[0, `lock(${lockName(prev)});`], [1, `lock(${lockName(parent)});`], [1, `lock(${lockName(prev)});`], [0, `lock(${lockName(next)});`]];
  body += ' Possible unsafe locking scenario:\n\n' + scenario(table) + '\n *** DEADLOCK ***\n';
  return {
    title, body,
    details: {
      acquiring: { lock: lockName(next), at: siteName(cpu.site()) }, holding: { lock: lockName(prev), at: heldAt(cpu, prev) },
      chain: chain.map((c) => lockName(c)), links, scenario: table.map(([c, t]) => ({ cpu: c, op: t })),
    },
  };
}

function heldAt(cpu: Cpu, lock: number): string {
  for (let i = cpu.heldDepth() - 1; i >= 0; i--) if (cpu.heldLock(i) === lock) return siteName(cpu.heldSite(i));
  return '?';
}

export function recursive(ld: LockGraphView, cpu: Cpu, lock: number, heldIndex: number): Rendered {
  const title = 'WARNING: possible recursive locking detected';
  let body = `${task(cpu)} is trying to acquire lock:\n ${ld.name(lock)}, at: ${siteName(cpu.site())}\n\n`;
  body += `but task is already holding lock:\n ${ld.name(lock)}, at: ${siteName(cpu.heldSite(heldIndex))}\n\n`;
  body += 'other info that might help us debug this:\n Possible unsafe locking scenario:\n\n       CPU0\n       ----\n';
  body += `  lock(${lockName(lock)});\n  lock(${lockName(lock)});\n\n *** DEADLOCK ***\n\n May be due to missing lock nesting notation\n`;
  return { title, body, details: { lock: lockName(lock), at: siteName(cpu.site()), heldAt: siteName(cpu.heldSite(heldIndex)) } };
}

export function inconsistent(ld: LockGraphView, cpu: Cpu, lock: number, nowInIrq: boolean): Rendered {
  const title = 'WARNING: inconsistent lock state';
  const from = nowInIrq ? '{HARDIRQ-ON-W}' : '{IN-HARDIRQ-W}';
  const to = nowInIrq ? '{IN-HARDIRQ-W}' : '{HARDIRQ-ON-W}';
  let body = `inconsistent ${from} -> ${to} usage.\n`;
  body += `${task(cpu)} ${irqState(cpu)} takes:\n ${ld.name(lock)}, at: ${siteName(cpu.site())}\n`;
  body += `${from} state was registered at:\n${usageAt(ld, cpu, lock, nowInIrq ? ENABLED_HARDIRQ : USED_IN_HARDIRQ)}`;
  body += '\nother info that might help us debug this:\n Possible unsafe locking scenario:\n\n       CPU0\n       ----\n';
  body += `  lock(${lockName(lock)});\n  <Interrupt>\n    lock(${lockName(lock)});\n\n *** DEADLOCK ***\n`;
  return { title, body, details: { lock: lockName(lock), from, to, at: siteName(cpu.site()), registeredAt: ld.usageSite(lock, nowInIrq ? ENABLED_HARDIRQ : USED_IN_HARDIRQ) } };
}

export function unsafeOrder(ld: LockGraphView, cpu: Cpu, prev: number, next: number, safe: number, unsafe: number): Rendered {
  const title = 'WARNING: HARDIRQ-safe -> HARDIRQ-unsafe lock order detected';
  let body = `${task(cpu)} ${irqState(cpu)} is trying to acquire:\n ${ld.name(next)}, at: ${siteName(cpu.site())}\n\n`;
  body += `and this task is already holding:\n ${ld.name(prev)}, at: ${heldAt(cpu, prev)}\n`;
  body += `which would create a new lock dependency:\n ${ld.name(prev)} -> ${ld.name(next)}\n\n`;
  body += `but this new dependency connects a HARDIRQ-irq-safe lock:\n ${ld.name(safe)}\n... which became HARDIRQ-irq-safe at:\n${usageAt(ld, cpu, safe, USED_IN_HARDIRQ)}\n`;
  body += `to a HARDIRQ-irq-unsafe lock:\n ${ld.name(unsafe)}\n... which became HARDIRQ-irq-unsafe at:\n${usageAt(ld, cpu, unsafe, ENABLED_HARDIRQ)}\n`;
  body += 'other info that might help us debug this:\n\n Possible interrupt unsafe locking scenario:\n\n';
  const table: [0 | 1, string][] = [
    [0, `lock(${lockName(unsafe)});`], [1, 'local_irq_disable();'], [1, `lock(${lockName(safe)});`],
    [1, `lock(${lockName(unsafe)});`], [0, '<Interrupt>'], [0, `  lock(${lockName(safe)});`],
  ];
  body += scenario(table) + '\n *** DEADLOCK ***\n';
  return {
    title, body,
    details: {
      acquiring: { lock: lockName(next), at: siteName(cpu.site()) }, holding: { lock: lockName(prev), at: heldAt(cpu, prev) },
      safe: { lock: lockName(safe), at: ld.usageSite(safe, USED_IN_HARDIRQ) }, unsafe: { lock: lockName(unsafe), at: ld.usageSite(unsafe, ENABLED_HARDIRQ) },
      scenario: table.map(([c, t]) => ({ cpu: c, op: t })),
    },
  };
}

export function inversion(ld: LockGraphView, cpu: Cpu, lock: number, other: number, becameSafe: boolean): Rendered {
  const title = 'WARNING: possible irq lock inversion dependency detected';
  let body = `${task(cpu)} ${irqState(cpu)} just changed the state of lock:\n ${ld.name(lock)}, at: ${siteName(cpu.site())}\n`;
  body += becameSafe
    ? `but this lock took another, HARDIRQ-unsafe lock in the past:\n ${ld.name(other)}\n\nand interrupts could create inverse lock ordering between them.\n`
    : `but this lock was taken by another, HARDIRQ-safe lock in the past:\n ${ld.name(other)}\n\nand interrupts could create inverse lock ordering between them.\n`;
  const safe = becameSafe ? lock : other;
  const unsafe = becameSafe ? other : lock;
  body += '\nother info that might help us debug this:\n Possible interrupt unsafe locking scenario:\n\n';
  const table: [0 | 1, string][] = [
    [0, `lock(${lockName(unsafe)});`], [1, 'local_irq_disable();'], [1, `lock(${lockName(safe)});`],
    [1, `lock(${lockName(unsafe)});`], [0, '<Interrupt>'], [0, `  lock(${lockName(safe)});`],
  ];
  body += scenario(table) + '\n *** DEADLOCK ***\n';
  return { title, body, details: { lock: lockName(lock), other: lockName(other), becameSafe, scenario: table.map(([c, t]) => ({ cpu: c, op: t })) } };
}

export function badUnlock(ld: LockGraphView, cpu: Cpu, lock: number): Rendered {
  const title = 'WARNING: bad unlock balance detected!';
  const body = `${task(cpu)} is trying to release lock ${ld.name(lock)} at:\n ${siteName(cpu.site())}\nbut there are no more locks to release!\n`;
  return { title, body, details: { lock: lockName(lock), at: siteName(cpu.site()) } };
}
