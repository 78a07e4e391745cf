// Thread entry point for an emulated CPU or the kworker: no logic here.
import { runCpuTask } from '../src/run/thread/cpu-task.ts';

export default runCpuTask;
