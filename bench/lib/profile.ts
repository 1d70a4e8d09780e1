import path from 'node:path';

/** The parts of a V8 .cpuprofile the summary needs. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Self time by where the code lives: a package, a src/ file, node internals, GC, idle. */
  byModule: { module: string; ms: number; share: number }[];
  /** Self time by function. */
  byFunction: { fn: string; ms: number; share: number }[];
}

function moduleOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules !== -1) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return 'node:internal';
  const src = url.indexOf('/src/');
  if (src !== -1) return url.slice(src + 1).replace(/^file:\/\//, '');
  return path.basename(url);
}

/** Self time per module and per function, from the samples of a V8 CPU profile. */
export function summarize(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let index = 0; index < samples.length; index += 1) {
    const id = samples[index]!;
    self.set(id, (self.get(id) ?? 0) + (deltas[index] ?? 0) / 1000);
  }
  let totalMs = 0;
  const modules = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, ms] of self) {
    const frame = byId.get(id)?.callFrame;
    // The profiler's own stop call (serialising the profile) is not the server's work.
    if (!frame || frame.url === 'node:inspector') continue;
    const module = moduleOf(frame.url, frame.functionName);
    totalMs += ms;
    modules.set(module, (modules.get(module) ?? 0) + ms);
    const fn = `${frame.functionName || '(anonymous)'} ${frame.url ? `${module}:${frame.lineNumber + 1}` : ''}`.trim();
    functions.set(fn, (functions.get(fn) ?? 0) + ms);
  }
  const rank = (entries: Map<string, number>) => [...entries].sort((a, b) => b[1] - a[1]).slice(0, top);
  return {
    totalMs,
    byModule: rank(modules).map(([module, ms]) => ({ module, ms, share: ms / totalMs })),
    byFunction: rank(functions).map(([fn, ms]) => ({ fn, ms, share: ms / totalMs })),
  };
}
