import fs from 'node:fs';
import path from 'node:path';

/** Comments and tests cite rule ids; docs/rules.md lists each in a line so a reader can find it (issue #13). */
const ROOT = path.resolve(import.meta.dirname, '../..');
const RULE_ID = /\b(?:R-[PUBRA]|C-UI|C-T|Q-P|S-)\d+\b/g;

function files(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(dir, entry.name);
    if (entry.isDirectory()) return files(relative);
    return /\.(ts|njk)$/.test(entry.name) ? [relative] : [];
  });
}

function citedIds(text: string): string[] {
  return [...new Set(text.match(RULE_ID) ?? [])];
}

const listed = new Set([...fs.readFileSync(path.join(ROOT, 'docs/rules.md'), 'utf8').matchAll(/^- \*\*([A-Z]+-[A-Z]*\d+)\*\* \S/gm)].map((match) => match[1]));

describe('docs/rules.md', () => {
  it('when an id is cited anywhere in src/ or test/, then docs/rules.md explains it in a line', () => {
    const cited = new Map<string, string>();
    for (const file of [...files('src'), ...files('test'), ...files('views')]) {
      for (const id of citedIds(fs.readFileSync(path.join(ROOT, file), 'utf8'))) if (!cited.has(id)) cited.set(id, file);
    }
    expect(cited.size).toBeGreaterThan(50);
    expect([...cited].filter(([id]) => !listed.has(id)).map(([id, file]) => `${id} (cited in ${file})`)).toEqual([]);
  });

  it('when a comment cites an id the page lacks, then the check names it', () => {
    const unknown = `S-${9}9`; // spelt in two parts, so this file does not cite it
    const cited = citedIds(`// R-B2 and ${unknown} (a range R-B1–R-B6)`);
    expect(cited).toEqual(['R-B2', unknown, 'R-B1', 'R-B6']);
    expect(cited.filter((id) => !listed.has(id))).toEqual([unknown]);
  });
});
