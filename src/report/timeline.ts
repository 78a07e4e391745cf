// The timeline of a controlled run as data: who ran what, step by step.
// Time is the scheduling step, never the wall clock, so the same run always
// gives the same timeline. src/render/timeline.ts draws it.

export type TimelineKind = 'enter' | 'leave' | 'acquire' | 'release' | 'wait' | 'switch' | 'report';

/** One event, names resolved (src/run/timeline.ts reads them from shared memory). */
export interface TimelineEvent {
  step: number;
  /** The entity it happened on: a CPU, or the kworker (= number of CPUs). */
  entity: number;
  kind: TimelineKind;
  /** The function entered or left, or the lock. */
  name: string;
  /** switch: the entity that runs next. */
  to?: number;
  /** acquire/release/wait: the lock is a sleeping lock. */
  mutex?: boolean;
}

export interface Timeline {
  cpus: number;
  events: TimelineEvent[];
  /** Events older than the ring holds. */
  lost: number;
}

export function entityName(e: number, cpus: number): string {
  return e < cpus ? `cpu${e}` : 'kworker/0:1';
}
