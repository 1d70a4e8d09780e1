import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import ts from 'typescript';
import { lastName, nodes, parse } from '../support/source-scan.js';

/**
 * The import rules of the layout (ARCHITECTURE.md "Habits" 2 and "Seams we avoid", issue #13), read from the import
 * statements of every source file with the TypeScript compiler's own pre-processor (static, dynamic and type-only
 * imports and re-exports; comments and strings are not imports).
 */
type ImportGraph = Record<string, string[]>;

const ROOT = path.resolve(import.meta.dirname, '../..');
/** The relying-party kit: `src/rp` if the tree has one, else the workspace package. */
const RP_ROOT = fs.existsSync(path.join(ROOT, 'src/rp')) ? 'src/rp' : 'packages/rp-kit/src';

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(relative);
    return entry.name.endsWith('.ts') ? [relative] : [];
  });
}

/** A relative specifier becomes the repository path of the file it names (`./store.js` → `src/…/store.ts`). */
function resolve(from: string, specifier: string): string {
  if (!specifier.startsWith('.')) return specifier;
  return path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier)).replace(/\.js$/, '.ts');
}

function importGraph(dirs: string[]): ImportGraph {
  const graph: ImportGraph = {};
  for (const file of dirs.flatMap(sourceFiles)) {
    const { importedFiles } = ts.preProcessFile(fs.readFileSync(path.join(ROOT, file), 'utf8'), true, true);
    graph[file] = importedFiles.map((imported) => resolve(file, imported.fileName));
  }
  return graph;
}

const packageName = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');
const isBuiltin = (specifier: string) => specifier.startsWith('node:') || builtinModules.includes(packageName(specifier));
const isPackage = (target: string) => !target.startsWith('src/') && !target.startsWith('packages/') && !target.startsWith('.');
const moduleOf = (file: string) => /^src\/modules\/([^/]+)\//.exec(file)?.[1];
/** What `src/shared` may never reach: the modules, the provider layers and the composition root. */
const ABOVE_SHARED = ['src/modules/', 'src/interactions/', 'src/oidc/', 'src/services.ts', 'src/app.ts', 'src/server.ts', 'src/main.ts'];

interface Rule {
  name: string;
  broken: (file: string, target: string) => boolean;
}

const RULES: Rule[] = [
  {
    name: 'only src/oidc and src/interactions import oidc-provider',
    broken: (file, target) => file.startsWith('src/') && packageName(target) === 'oidc-provider' && !file.startsWith('src/oidc/') && !file.startsWith('src/interactions/'),
  },
  {
    name: "a module's store is imported by that module only (others use its service)",
    broken: (file, target) => {
      const owner = /^src\/modules\/([^/]+)\/store\.ts$/.exec(target)?.[1];
      return file.startsWith('src/') && owner !== undefined && moduleOf(file) !== owner;
    },
  },
  { name: 'no module imports src/interactions', broken: (file, target) => moduleOf(file) !== undefined && target.startsWith('src/interactions/') },
  {
    name: 'src/shared imports no module, provider layer or composition root',
    broken: (file, target) => file.startsWith('src/shared/') && ABOVE_SHARED.some((above) => target.startsWith(above)),
  },
  {
    name: 'the RP kit imports only jose, Node built-ins and its own files',
    broken: (file, target) => file.startsWith(`${RP_ROOT}/`) && (isPackage(target) ? packageName(target) !== 'jose' && !isBuiltin(target) : !target.startsWith(`${RP_ROOT}/`)),
  },
];

function violations(graph: ImportGraph): string[] {
  return Object.entries(graph).flatMap(([file, targets]) =>
    targets.flatMap((target) => RULES.filter((rule) => rule.broken(file, target)).map((rule) => `${rule.name}: ${file} imports ${target}`)),
  );
}

describe('import boundaries (issue #13)', () => {
  const graph = importGraph(['src', RP_ROOT]);

  it('when every source file is read, then its imports are found (the reader is not blind)', () => {
    expect(Object.keys(graph).length).toBeGreaterThan(100);
    expect(graph['src/oidc/provider.ts']).toContain('oidc-provider');
    expect(graph['src/modules/units/service.ts']).toContain('src/modules/units/store.ts');
    expect(graph[`${RP_ROOT}/verifier.ts`]).toContain('jose');
  });

  it('when the source tree is checked, then no import breaks a boundary rule', () => {
    expect(violations(graph)).toEqual([]);
  });

  it.each([
    ['src/app.ts', 'oidc-provider', 'only src/oidc and src/interactions import oidc-provider'],
    ['src/modules/units/routes.ts', 'oidc-provider', 'only src/oidc and src/interactions import oidc-provider'],
    ['src/modules/recovery/appeals.ts', 'src/modules/units/store.ts', "a module's store is imported by that module only"],
    ['src/oidc/accounts.ts', 'src/modules/persons/store.ts', "a module's store is imported by that module only"],
    ['src/modules/units/routes.ts', 'src/interactions/console.ts', 'no module imports src/interactions'],
    ['src/shared/http/forms.ts', 'src/modules/audit/audit-log.ts', 'src/shared imports no module'],
    ['src/shared/metrics.ts', 'src/oidc/provider.ts', 'src/shared imports no module'],
    [`${RP_ROOT}/verifier.ts`, 'koa', 'the RP kit imports only jose'],
    [`${RP_ROOT}/verifier.ts`, 'src/shared/errors.ts', 'the RP kit imports only jose'],
  ])('when %s imports %s, then the rule "%s" reports it', (file, target, rule) => {
    const found = violations({ [file]: [target] });
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(rule);
    expect(found[0]).toContain(`${file} imports ${target}`);
  });

  it.each([
    ['src/oidc/provider.ts', 'oidc-provider'],
    ['src/interactions/console.ts', 'oidc-provider'],
    ['src/modules/units/service.ts', 'src/modules/units/store.ts'],
    ['src/modules/recovery/appeals.ts', 'src/modules/units/service.ts'],
    ['src/modules/units/routes.ts', 'src/shared/console-account.ts'],
    ['src/shared/http/forms.ts', 'src/shared/audit-context.ts'],
    ['src/shared/logger.ts', 'src/config/env.ts'],
    [`${RP_ROOT}/verifier.ts`, 'jose'],
    [`${RP_ROOT}/express.ts`, 'node:http'],
    [`${RP_ROOT}/index.ts`, `${RP_ROOT}/verifier.ts`],
  ])('when %s imports %s, then no rule objects', (file, target) => {
    expect(violations({ [file]: [target] })).toEqual([]);
  });

  /**
   * Writes to objects node-oidc-provider owns, read from the syntax tree (however laid out): an assignment to the
   * interaction's `result` or to a token's `extra`, `interaction.save(…)`, `grant.rejectOIDCScope/ResourceScope(…)`.
   */
  function writesToLibrary(text: string): boolean {
    return nodes(parse(text)).some((node) => {
      if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.EqualsToken && ts.isPropertyAccessExpression(node.left)) {
        const { name, expression } = node.left;
        return (name.text === 'result' && lastName(expression) === 'interaction') || name.text === 'extra';
      }
      if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
        const { name, expression } = node.expression;
        return (name.text === 'save' && lastName(expression) === 'interaction') || name.text === 'rejectOIDCScope' || name.text === 'rejectResourceScope';
      }
      return false;
    });
  }

  it('when the source tree writes to objects of node-oidc-provider, then it does so in src/oidc/library-internals.ts only', () => {
    const writers = Object.keys(graph).filter((file) => writesToLibrary(fs.readFileSync(path.join(ROOT, file), 'utf8')));
    expect(writers).toEqual(['src/oidc/library-internals.ts']);
  });

  it.each([
    'interaction.result = result;',
    'await interaction.save(60);',
    "grant.rejectOIDCScope('biz:x');",
    'token.extra = { unit_id: id };',
    // As a formatter may lay them out.
    'ctx.interaction.result =\n  result;',
    'await interaction\n  .save(60);',
    "grant\n  .rejectResourceScope(\n    'https://api.example',\n  );",
    'token.extra =\n  {\n    unit_id: id,\n  };',
  ])('when a file holds %j, then it counts as a write to the library', (line) => {
    expect(writesToLibrary(line)).toBe(true);
  });

  it.each([
    'if (token.extra === undefined) return;',
    'const result = interaction.result;',
    '// interaction.result = result is done in one place',
    "const hint = 'grant.rejectOIDCScope(x)';",
    'await session.save(60);',
  ])('when a file holds %j, then it is no write to the library', (line) => {
    expect(writesToLibrary(line)).toBe(false);
  });

  it('when a relative import is resolved, then it names the repository file', () => {
    expect(resolve('src/modules/units/service.ts', '../bindings/store.js')).toBe('src/modules/bindings/store.ts');
    expect(resolve('src/shared/http/forms.ts', '../../modules/audit/audit-log.js')).toBe('src/modules/audit/audit-log.ts');
  });
});
