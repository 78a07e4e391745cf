// Thread entry point of the in-thread engine (built from the suspending form of the sources): no logic here.
import { runInThreadTask } from '../src/run/thread/inthread.ts';

export default runInThreadTask;
