// Strategy lookup by mode.
import { Mode, type Strategy } from './strategy.ts';
import { randomStrategy } from './random.ts';
import { pctStrategy } from './pct.ts';
import { replayStrategy } from './replay.ts';

export function strategyFor(mode: Mode): Strategy {
  switch (mode) {
    case Mode.random:
      return randomStrategy;
    case Mode.pct:
      return pctStrategy;
    case Mode.replay:
      return replayStrategy;
    default:
      throw new Error('free-running mode has no strategy');
  }
}
