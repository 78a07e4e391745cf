// What the campaign layer (fuzz, shrinking, replay, run) hands its runs to:
// an engine takes a run as a value (src/run/spec.ts) and returns its
// result, and nothing above it knows how the run was played. Two engines
// implement `play`: the threads engine (runner.ts: one pool thread per
// entity, the reference) and the in-thread engine (inthread.ts: a run's
// entities as coroutines of one pool thread). The verdict every command
// shares is here, once: a controlled run whose findings a known issue's
// mechanism claims is replayed with that later fix switched on.

import type { RunResult } from '../../report/result.ts';
import { classify } from '../../check/known.ts';
import { fixFor } from '../kernels.ts';
import { machineAsAsked, planFixReplay, specKernel, specOf, type RunOptions, type RunSpec } from '../spec.ts';
import { planMachine } from '../machine.ts';

/** The engines a controlled run can be played on. */
export const ENGINES = ['inthread', 'threads'] as const;
export type EngineName = (typeof ENGINES)[number];

export abstract class Engine {
  abstract readonly engine: EngineName;
  /** Runs may be handed over while one is under way (they are queued, and played in order). */
  readonly overlaps: boolean = false;
  /** Stop the run in progress (SIGINT/SIGTERM) and refuse further runs: they end interrupted at once. */
  abstract interrupt(): void;
  abstract get wasInterrupted(): boolean;
  abstract close(): Promise<void>;
  /** Play one run (no known-issue verification). */
  abstract play(s: RunSpec, o: RunOptions, t0: number): Promise<RunResult>;

  /**
   * One run, with the verdict every command shares: a controlled run whose
   * findings a known issue's mechanism claims is replayed once more with
   * the later kernels' fixes of those issues switched on, and a finding is
   * called known only if that replay no longer shows it.
   */
  /**
   * Before a finding of this engine is reported: replay the run that made
   * it on the reference engine, the real threads, and compare; a
   * difference is a HarnessError (exit 3), never a verdict. The threads
   * engine is the reference: nothing to confirm.
   */
  async confirm(_o: RunOptions, _r: RunResult): Promise<void> {}

  async run(o: RunOptions): Promise<RunResult> {
    const { result, spec } = await this.runOnce(o);
    // dropped while it played: its caller will not look at it, so nothing more is played for it (a fix
    // replay would hold up whatever the caller does next on this engine: a finding's shrinking, the next campaign)
    if (o.signal?.aborted) throw new Error('the run was dropped: its caller no longer wants it');
    if (o.verifyKnown !== false && spec.programs && result.schedule !== null && result.violations.some((v) => v.mechanism !== undefined && v.notKnown === undefined)) {
      await this.verifyKnown(o, result, spec);
    }
    return result;
  }

  private async runOnce(o: RunOptions): Promise<{ result: RunResult; spec: RunSpec }> {
    const t0 = Date.now();
    const s = specOf(o);
    machineAsAsked(o, planMachine(s.config).cfg);
    return { result: await this.play(s, o, t0), spec: s };
  }

  /**
   * Play the replay that verifies `original`'s claimed findings with their
   * fixes (`s`, planned by planFixReplay). An engine that played it ahead
   * answers with that (the in-thread engine's thread plays it right after
   * the run, from the same spec and fixes).
   */
  protected playFixReplay(s: RunSpec, o: RunOptions, _original: RunResult): Promise<RunResult> {
    return this.play(s, o, Date.now());
  }

  /** Replay `r` with the fixes of every mechanism its findings name; settle which findings are known. */
  private async verifyKnown(o: RunOptions, r: RunResult, s: RunSpec): Promise<void> {
    const claimed = r.violations.filter((v) => v.mechanism !== undefined && v.notKnown === undefined);
    const kernel = specKernel(s);
    const plan = planFixReplay(s, r);
    const fixName = new Map<string, string>();
    for (const v of claimed) {
      const found = fixFor(kernel, v.mechanism!);
      if (found) fixName.set(v.mechanism!, found.fix.name);
      else v.notKnown = 'no fix of this known issue exists to verify it with';
    }
    const pending = claimed.filter((v) => v.notKnown === undefined);
    const names = [...new Set(pending.map((v) => fixName.get(v.mechanism!)!))].join(', ');
    let why = '';
    if (plan !== null && 'cannot' in plan) {
      why = plan.cannot === 'schedule-overflow'
        ? `its schedule was too long to record whole, so it could not be replayed with the fix (${names})`
        : `its fix (${names}) replaces a function the injected bug ${s.inject} replaces too, so it could not be verified`;
    } else if (plan !== null) {
      const res = await this.playFixReplay(plan.spec, {
        ...o, timeline: false, points: false, lockdepExport: false, coverage: false, onProgress: undefined,
        // deciding the verdict of a run that happened: no budget but its own watchdog and step budget
        deadline: undefined, durationMs: undefined, signal: undefined,
        // (a witness: its own findings are not verified in turn)
        verifyKnown: false,
      }, r);
      if (res.status === 'incomplete' || res.status === 'interrupted') {
        // cut by a signal or a budget: no verdict either way, and the run says so
        const cut = `the replay with its fix (${names}) was ${res.status === 'interrupted' ? 'interrupted' : 'cut by its budget'} before it could prove or disprove it`;
        for (const v of pending) {
          v.unclassified = cut;
          delete v.known;
          delete v.knownProof;
        }
        // a finding settled before the replay (no fix to verify it with) still counts
        if (classify(r.violations, o)) r.status = 'violation';
        if (r.status !== 'violation') r.status = res.status;
        return;
      }
      for (const v of pending) {
        // a leak's title carries its counts, which the fix may change: any leak still there is the leak
        if (res.violations.some((x) => x.kind === v.kind && (x.title === v.title || v.kind === 'leak'))) v.notKnown = `replayed with ${fixName.get(v.mechanism!)} switched on, it is still there`;
        else v.knownProof = 'fix-verified';
      }
    }
    if (why) for (const v of pending) v.notKnown = why;
    if (classify(r.violations, o)) r.status = 'violation';
  }
}
