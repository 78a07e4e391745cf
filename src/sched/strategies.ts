// Strategy lookup by mode.
import { Mode, type Strategy } from './strategy.ts';
import { randomStrategy } from './random.ts';
import { pctStrategy } from './pct.ts';
import { replayStrategy } from './replay.ts';
import { posStrategy } from './pos.ts';
import { urwStrategy } from './urw.ts';

export function strategyFor(mode: Mode): Strategy {
  switch (mode) {
    case Mode.random:
      return randomStrategy;
    case Mode.pct:
      return pctStrategy;
    case Mode.replay:
      return replayStrategy;
    case Mode.pos:
      return posStrategy;
    case Mode.urw:
      return urwStrategy;
    default:
      throw new Error('free-running mode has no strategy');
  }
}
