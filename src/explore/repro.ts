// Repro files: everything a failing controlled run depends on (config,
// programs, strategy, seed, schedule) plus the violation it produced and the
// tool version. `percpu-stress replay FILE` re-executes one exactly.

import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { externalPath, scenarioByName } from '../../scenarios/index.ts';
import type { Scenario } from '../../scenarios/lib/scenario.ts';
import { loadScenarioFile } from './scenario-file.ts';
import { OP_WORDS, programFromJson, programToJson } from '../../scenarios/lib/program.ts';
import { GENERATIONS, bugByName } from '../run/kernels.ts';
import type { Violation, ViolationKind } from '../report/violation.ts';
import { decodeSchedule, ScheduleError, switchesOf } from '../sched/schedule.ts';
import { MODE_NAMES } from '../sched/strategy.ts';
import { DEFAULT_KERNEL, KERNELS, type Backend, type KernelVersion } from '../shm/config.ts';
import { quote } from '../report/errors.ts';
import { VIOLATION_KIND_SET as VIOLATION_KINDS } from '../report/violation.ts';
import { VERSION } from '../version.ts';
import { writeAtomic } from '../io/files.ts';
import { REPRO, readJsonInput } from '../io/inputs.ts';
import { checkSchema } from '../io/schema.ts';
import { planMachine } from '../run/machine.ts';
import { scenarioConfig } from '../run/main/runner.ts';

export interface Repro {
  tool: 'percpu-stress';
  version: string;
  scenario: string;
  /** A scenario loaded from a file: its absolute path (replay loads it again). */
  scenarioFile?: string;
  cpus: number;
  seed: number;
  /** The kernel generation it ran on (repro files before 0.2 have none: 2.6.35). */
  kernel?: KernelVersion;
  backend: Backend | null;
  inject: string | null;
  /** The strategy that found it (replay always follows the schedule). */
  strategy: string;
  depth: number;
  /** The machine the scenario builds for these CPUs and seed (for the reader; replay derives it again). */
  config: Record<string, unknown>;
  programs: number[][][];
  schedule: string;
  violation: { kind: ViolationKind; title: string; cpu: number; step: number; text: string };
  sizes: { original: ReproSize; minimal: ReproSize };
}

export interface ReproSize {
  cpus: number;
  ops: number;
  switches: number;
}

/** A bad repro file: one line, exit code 2. */
export class ReproError extends Error {}

export function sizeOf(programs: Int32Array[], schedule: number[]): ReproSize {
  return { cpus: programs.length, ops: programs.reduce((n, p) => n + p.length / OP_WORDS, 0), switches: switchesOf(schedule) };
}

export function makeRepro(o: {
  scenario: Scenario; cpus: number; seed: number; kernel: KernelVersion; backend: Backend | undefined; inject: string | null; strategy: string; depth: number;
  programs: Int32Array[]; schedule: string; violation: Violation; original: ReproSize; minimal: ReproSize;
}): Repro {
  const v = o.violation;
  return {
    tool: 'percpu-stress', version: VERSION, scenario: o.scenario.name,
    ...(externalPath(o.scenario) ? { scenarioFile: externalPath(o.scenario) } : {}),
    cpus: o.cpus, seed: o.seed, kernel: o.kernel, backend: o.backend ?? null,
    inject: o.inject, strategy: o.strategy, depth: o.depth,
    config: { ...planMachine(scenarioConfig(o.scenario, o.cpus, o.seed, o.backend, o.kernel)).cfg },
    programs: o.programs.map(programToJson), schedule: o.schedule,
    violation: { kind: v.kind, title: v.title, cpu: v.cpu, step: v.step, text: v.text },
    sizes: { original: o.original, minimal: o.minimal },
  };
}

/** The scenario a (checked) repro runs: built-in by name, or loaded from its file. */
export function reproScenario(r: Repro): Scenario {
  return r.scenarioFile !== undefined ? loadScenarioFile(r.scenarioFile) : scenarioByName(r.scenario)!;
}

/**
 * What a repro's name is a hash of: the repro as 2.6.35 repros were before
 * the kernel was recorded (the same name for the same 2.6.35 finding), and
 * everything, the kernel included, for the others.
 */
function hashed(r: Repro): Repro {
  if ((r.kernel ?? DEFAULT_KERNEL) !== DEFAULT_KERNEL) return r;
  const { kernel: _k, ...rest } = r;
  const { kernel: _c, ...config } = r.config;
  return { ...rest, config };
}

/** The kernel a repro ran on. */
export function reproKernel(r: Repro): KernelVersion {
  return r.kernel ?? DEFAULT_KERNEL;
}

/** A repro's file name: repro-<hash>.json, the hash of what it replays (src/io/outputs.ts knows the pattern). */
export function reproFileName(r: Repro): string {
  const hash = createHash('sha256').update(JSON.stringify({ ...hashed(r), violation: { kind: r.violation.kind } })).digest('hex').slice(0, 12);
  return `repro-${hash}.json`;
}

/** Write repro-<hash>.json atomically into `dir` (made if missing); returns its path. */
export function writeRepro(dir: string, r: Repro): string {
  // one op per line: a program reads like an assembly listing
  const programs = r.programs.map((p) => `  [\n${p.map((op) => `   ${JSON.stringify(op)}`).join(',\n')}\n  ]`).join(',\n');
  const body = JSON.stringify({ ...r, programs: '@@' }, null, 1).replace('"@@"', `[\n${programs}\n ]`) + '\n';
  const path = join(dir, reproFileName(r));
  writeAtomic(path, body);
  return path;
}

function need<T>(cond: T, msg: string): asserts cond {
  if (!cond) throw new ReproError(msg);
}

/** Read and validate a repro file. */
export function readRepro(file: string): Repro {
  const data = readJsonInput(file, REPRO, (why) => new ReproError(why));
  checkSchema('repro', data, file, (why) => new ReproError(why));
  return checkRepro(data as Repro, file);
}

/** Validate a parsed repro, field by field (`file` names it in the one-line error). */
export function checkRepro(r: Repro, file: string): Repro {
  need(typeof r === 'object' && r !== null && r.tool === 'percpu-stress', `${file}: not a percpu-stress repro file`);
  const major = (v: string): string => v.split('.')[0]!;
  need(typeof r.version === 'string' && /^\d+\.\d+\.\d+/.test(r.version) && major(r.version) === major(VERSION),
    `${file}: version: written by percpu-stress ${quote(r.version)}, this is ${VERSION} (programs and schedules differ between major versions)`);
  if (r.scenarioFile !== undefined) {
    need(typeof r.scenarioFile === 'string', `${file}: scenarioFile: expected a path`);
    let s: Scenario;
    try {
      s = loadScenarioFile(r.scenarioFile);
    } catch (e) {
      throw new ReproError(`${file}: scenarioFile: ${(e as Error).message}`);
    }
    need(s.name === r.scenario, `${file}: scenario: ${quote(String(r.scenario))}, but ${r.scenarioFile} now exports ${quote(s.name)}`);
  } else {
    need(typeof r.scenario === 'string' && scenarioByName(r.scenario), `${file}: scenario: unknown scenario ${quote(r.scenario)}`);
  }
  need(Number.isInteger(r.cpus) && r.cpus >= 1 && r.cpus <= 64, `${file}: cpus must be 1..64`);
  need(Number.isInteger(r.seed) && r.seed >= 0, `${file}: seed must be a non-negative integer`);
  need(r.backend === null || r.backend === 'vm' || r.backend === 'km', `${file}: backend must be vm, km or null`);
  need(r.kernel === undefined || (KERNELS as readonly unknown[]).includes(r.kernel), `${file}: kernel: ${quote(String(r.kernel))} is not one of ${KERNELS.join(', ')}`);
  const kernel = reproKernel(r);
  need(r.inject === null || bugByName(kernel, r.inject), `${file}: inject: unknown bug ${quote(r.inject)} of ${kernel} (known: ${GENERATIONS[kernel].bugs.map((b) => b.name).join(', ') || 'none'})`);
  need((MODE_NAMES as readonly string[]).includes(r.strategy), `${file}: strategy: unknown strategy ${quote(r.strategy)}`);
  need(Number.isInteger(r.depth) && r.depth >= 1 && r.depth <= 17, `${file}: depth must be 1..17`);
  need(Array.isArray(r.programs) && r.programs.length === r.cpus, `${file}: programs must list one program per CPU`);
  r.programs.forEach((p, i) => {
    try {
      programFromJson(p, `programs[${i}]`, r.cpus);
    } catch (e) {
      throw new ReproError(`${file}: ${(e as Error).message}`);
    }
  });
  need(typeof r.schedule === 'string', `${file}: schedule must be a string`);
  let sched: number[];
  try {
    sched = decodeSchedule(r.schedule);
  } catch (e) {
    if (e instanceof ScheduleError) throw new ReproError(`${file}: schedule: ${e.message}`);
    throw e;
  }
  for (let i = 0; i < sched.length; i += 2) {
    need(sched[i]! >> 1 <= r.cpus, `${file}: schedule: names entity ${sched[i]! >> 1}, the repro has ${r.cpus} CPUs and the kworker (0..${r.cpus})`);
  }
  need(typeof r.violation === 'object' && r.violation !== null && typeof r.violation.kind === 'string', `${file}: violation.kind is missing`);
  need(VIOLATION_KINDS.has(r.violation.kind), `${file}: violation.kind: unknown kind ${quote(r.violation.kind)}`);
  return r;
}

export function reproPrograms(r: Repro): Int32Array[] {
  return r.programs.map((p, i) => programFromJson(p, `program of cpu${i}`, r.cpus));
}
