// Read the timeline ring of a controlled run out of shared memory, names
// resolved (the events are small integers while the run goes).

import type { Shm } from '../shm/layout.ts';
import { EV, EV_CAP, EV_WORDS, RUN } from './records.ts';
import { siteName } from '../sync/sites.ts';
import { LOCK_IS_MUTEX, lockName } from '../sync/locks.ts';
import type { Timeline, TimelineEvent, TimelineKind } from '../report/timeline.ts';

const KINDS: Record<number, TimelineKind> = {
  [EV.ENTER]: 'enter', [EV.LEAVE]: 'leave', [EV.ACQUIRE]: 'acquire', [EV.RELEASE]: 'release', [EV.WAIT]: 'wait', [EV.SWITCH]: 'switch', [EV.REPORT]: 'report',
};

export function readTimeline(shm: Shm, cpus: number): Timeline {
  const raw = rawEvents(shm);
  const events: TimelineEvent[] = [];
  for (let i = 0; i < raw.length; i += EV_WORDS) {
    const kind = KINDS[raw[i + 2]!];
    if (!kind) continue;
    const arg = raw[i + 3]!;
    const ev: TimelineEvent = { step: raw[i]!, entity: raw[i + 1]!, kind, name: '' };
    if (kind === 'enter' || kind === 'leave') ev.name = siteName(arg);
    else if (kind === 'switch') ev.to = arg;
    else if (kind === 'report') ev.name = 'violation';
    else {
      ev.name = lockName(arg);
      if (LOCK_IS_MUTEX[arg]) ev.mutex = true;
    }
    events.push(ev);
  }
  return { cpus, events, lost: shm.w[shm.L.run + RUN.EV_LEN]! - raw.length / EV_WORDS };
}

/** Every event of the ring as recorded (step, entity, kind, argument), scheduling decisions included: what the engines' comparison reads. */
export function rawEvents(shm: Shm): number[] {
  const { w, L } = shm;
  const n = w[L.run + RUN.EV_LEN]!;
  const kept = Math.min(n, EV_CAP);
  const out: number[] = [];
  for (let i = n - kept; i < n; i++) {
    const at = L.evlog + (i % EV_CAP) * EV_WORDS;
    out.push(w[at]!, w[at + 1]!, w[at + 2]!, w[at + 3]!);
  }
  return out;
}
