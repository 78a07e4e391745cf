// Replay: follow a recorded schedule decision by decision. A decision that
// no longer applies (its entity cannot run) is replaced by the fallback and
// counted as a divergence; past the end, the fallback decides (stay on the
// current entity while it can run: no further preemptions).

import type { Layout } from '../shm/layout.ts';
import { SC } from './records.ts';
import { Mode, fallback, type Choice, type Strategy, type StrategyOptions } from './strategy.ts';

export const replayStrategy: Strategy = {
  mode: Mode.replay,
  init(w: Int32Array, L: Layout, _o: StrategyOptions): void {
    w[L.sched + SC.REPLAY_POS] = 0;
    w[L.sched + SC.REPLAY_LEFT] = w[L.sched + SC.REPLAY_LEN]! > 0 ? w[L.schedReplay + 1]! : 0;
    w[L.sched + SC.DIVERGED] = 0;
  },
  choose(c: Choice): number {
    const { w, L } = c;
    const pos = w[L.sched + SC.REPLAY_POS]!;
    if (pos >= w[L.sched + SC.REPLAY_LEN]!) return fallback(c);
    const action = w[L.schedReplay + pos * 2]!;
    const left = w[L.sched + SC.REPLAY_LEFT]! - 1;
    if (left > 0) {
      w[L.sched + SC.REPLAY_LEFT] = left;
    } else {
      w[L.sched + SC.REPLAY_POS] = pos + 1;
      w[L.sched + SC.REPLAY_LEFT] = w[L.schedReplay + (pos + 1) * 2 + 1] ?? 0;
    }
    const e = action >> 1;
    for (let i = 0; i < c.count; i++) {
      if (c.runnable[i] === e) return (action & 1) && !c.canIrq(e) ? e * 2 : action;
    }
    w[L.sched + SC.DIVERGED]!++;
    return fallback(c);
  },
};
