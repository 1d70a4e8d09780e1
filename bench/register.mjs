// Runs the benchmarks' TypeScript (and the src/ and test/support/ modules they import) straight from source:
// `node --import ./bench/register.mjs bench/<name>.ts`. Node's own type stripping cannot handle the decorators
// and parameter properties of src/, so .ts files are compiled in memory by SWC with the options jest uses
// (jest.config.js); `./x.js` specifiers resolve to `./x.ts` as under tsc's NodeNext resolution. No build and no
// files written; the code that runs is the same as what tsc emits into dist/ (ES2023, legacy decorators).
import fs from 'node:fs';
import { registerHooks } from 'node:module';
import { fileURLToPath, URL } from 'node:url';
import swc from '@swc/core';

const SWC_OPTIONS = {
  jsc: { parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true }, target: 'es2023', keepClassNames: true },
  module: { type: 'es6' },
  sourceMaps: 'inline',
};

registerHooks({
  resolve(specifier, context, nextResolve) {
    const parent = context.parentURL;
    if (parent && parent.startsWith('file:') && !parent.includes('/node_modules/') && (specifier.startsWith('./') || specifier.startsWith('../')) && specifier.endsWith('.js')) {
      const candidate = new URL(specifier, parent);
      if (!fs.existsSync(fileURLToPath(candidate))) {
        const ts = new URL(`${candidate.href.slice(0, -3)}.ts`);
        if (fs.existsSync(fileURLToPath(ts))) return { url: ts.href, format: 'module', shortCircuit: true };
      }
    }
    return nextResolve(specifier, context);
  },
  load(url, context, nextLoad) {
    if (url.startsWith('file:') && url.endsWith('.ts') && !url.includes('/node_modules/')) {
      const filename = fileURLToPath(url);
      const { code } = swc.transformSync(fs.readFileSync(filename, 'utf8'), { ...SWC_OPTIONS, filename });
      return { format: 'module', source: code, shortCircuit: true };
    }
    return nextLoad(url, context);
  },
});
