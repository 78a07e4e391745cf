// The part of the DevTools trace engine (npm: @paulirish/trace_engine, the
// engine of Chrome DevTools' Performance panel) that test/timeline.test.ts
// reads: its analyze-trace.mjs entry ships no types.

declare module '@paulirish/trace_engine/analyze-trace.mjs' {
  interface EngineEvent { name: string; cat: string; ph: string; ts: number; pid: number; tid: number; dur?: number; args?: Record<string, unknown> }
  interface EngineNode { entry: EngineEvent; parent: EngineNode | null }
  interface EngineThread { name?: string; entries: EngineEvent[] }
  interface EngineProcess { name?: string; threads: Map<number, EngineThread> }
  export function analyzeEvents(events: readonly unknown[]): Promise<{
    parsedTrace: {
      data: {
        Flows: { flows: EngineEvent[][] };
        Renderer: { processes: Map<number, EngineProcess>; entryToNode: Map<EngineEvent, EngineNode> };
      };
    };
  }>;
}
