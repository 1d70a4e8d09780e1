import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BASE_SCOPES, IDENTITY_SCOPES, isIdentityScope, loadClients } from '../../src/config/clients.js';
import { activeAccount, type AccountLookups } from '../../src/oidc/accounts.js';
import { CONSOLE_CLIENT_ID, CONSOLE_KINDS, requestedAccountKind } from '../../src/oidc/console-client.js';
import { ACCOUNT_KINDS, isAccountKind, isUuid, parseAccountId } from '../../src/shared/account-id.js';
import { testClient, testClientsFile } from '../support/fixtures.js';
import { tokenText } from '../support/source-scan.js';

/** Every TypeScript file under src/, with its text. */
function sources(dir = path.join(import.meta.dirname, '../../src')): [string, string][] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry): [string, string][] => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(file);
    return entry.name.endsWith('.ts') ? [[path.relative(path.join(import.meta.dirname, '../..'), file), fs.readFileSync(file, 'utf8')]] : [];
  });
}

/**
 * Code that decides knowledge kept in one place elsewhere, looked for in the file's tokens (`tokenText`: one space
 * between tokens, comments left out), so a phrase the formatter splits over lines is still found.
 */
function restatedKnowledge(file: string, text: string): string[] {
  const code = tokenText(text);
  return [
    ...(/accountKind \?\? 'person'|CONSOLE_KINDS as readonly|console === 'person'|kind === 'person' ;/.test(code) && !file.endsWith('oidc/console-client.ts')
      ? [`${file}: decides the account kind`]
      : []),
    ...(/byId \( [^)]* \) \) \?\. status === 'active'|person \. status !== 'active' \) return false/.test(code) && !file.endsWith('oidc/accounts.ts')
      ? [`${file}: checks an account's status itself`]
      : []),
  ];
}

/**
 * Knowledge that lives in one place (issue #13): account kinds, base scopes, the client look-up, the UUID check,
 * which kind of account a request signs in, whether an account is active.
 */
describe('one source each', () => {
  it('when a client is looked up by id, then catalog.client answers for registered ids only', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-catalog-'));
    try {
      const file = path.join(dir, 'clients.json');
      fs.writeFileSync(file, JSON.stringify(testClientsFile([testClient()])));
      const catalog = loadClients({ file, mode: 'development', dataDir: path.join(dir, 'data'), env: {} });
      const [first] = catalog.clients;
      expect(first).toBeDefined();
      expect(catalog.client(first?.clientId)).toBe(first);
      expect(catalog.client('no-such-client')).toBeUndefined();
      expect(catalog.client(undefined)).toBeUndefined();
      expect(catalog.client(['an', 'array'])).toBeUndefined();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['person', true],
    ['unit', true],
    ['operator', true],
    ['system', false],
    ['Person', false],
    [undefined, false],
  ])('when the account kind is %j, then it is one of ours: %s', (kind, expected) => {
    expect(isAccountKind(kind)).toBe(expected);
  });

  it('when the consoles list their kinds, then they are the account kinds', () => {
    expect(CONSOLE_KINDS).toEqual(ACCOUNT_KINDS);
    expect(parseAccountId('operator:6f1c2b4e-8a2d-4c1e-9f00-1234567890ab')).toEqual({ kind: 'operator', id: '6f1c2b4e-8a2d-4c1e-9f00-1234567890ab' });
    expect(parseAccountId('system:6f1c2b4e-8a2d-4c1e-9f00-1234567890ab')).toBeUndefined();
  });

  it('C-T1 when the base scopes are listed, then they are the identity scopes plus the management scope', () => {
    expect(BASE_SCOPES).toEqual([...IDENTITY_SCOPES, 'manage']);
    expect(IDENTITY_SCOPES.every(isIdentityScope)).toBe(true);
    expect(isIdentityScope('manage')).toBe(false);
    expect(isIdentityScope('biz:continuing_education')).toBe(false);
  });

  it.each([
    ['6f1c2b4e-8a2d-4c1e-9f00-1234567890ab', true],
    ['6F1C2B4E-8A2D-4C1E-9F00-1234567890AB', false],
    ['6f1c2b4e8a2d4c1e9f001234567890ab', false],
    ['------------------------------------', false],
    [42, false],
  ])('when %j is checked as an id, then it is a canonical UUID: %s', (value, expected) => {
    expect(isUuid(value)).toBe(expected);
  });

  const ID = '6f1c2b4e-8a2d-4c1e-9f00-1234567890ab';
  const kindOfClient = (clientId: unknown) => (clientId === 'unit-admin' ? ('unit' as const) : clientId === 'counter-admin' ? ('operator' as const) : undefined);

  it.each([
    ['a business system', 'business-rp', 'unit', 'person'],
    ['a unit management client', 'unit-admin', undefined, 'unit'],
    ['an operator management client', 'counter-admin', 'person', 'operator'],
    ['no client', undefined, 'operator', 'person'],
    ['the console asking for a unit', CONSOLE_CLIENT_ID, 'unit', 'unit'],
    ['the console asking for an operator', CONSOLE_CLIENT_ID, 'operator', 'operator'],
    ['the console asking for nothing', CONSOLE_CLIENT_ID, undefined, 'person'],
    ['the console asking for an unknown kind', CONSOLE_CLIENT_ID, 'system', 'person'],
  ])('R-U3 when %s signs in (console=%j), then the account kind is %s', (_name, clientId, asked, expected) => {
    expect(requestedAccountKind(clientId, asked, kindOfClient)).toBe(expected);
  });

  it.each([
    ['person', 'active', true],
    ['person', 'disabled', false],
    ['unit', 'active', true],
    ['unit', 'disabled', false],
    ['operator', 'active', true],
    ['operator', 'disabled', false],
  ] as const)('R-B6 when a %s account is %s, then it is active: %s', async (kind, status, expected) => {
    const record = (wanted: string) => async (id: string) => (kind === wanted && id === ID ? { id, status } : undefined);
    const lookups = { persons: { byId: record('person') }, units: { byId: record('unit') }, operators: { byId: record('operator') } } as unknown as AccountLookups;
    expect((await activeAccount(lookups, kind, ID))?.id === ID).toBe(expected);
    // Each kind is looked up in its own store only.
    for (const other of ['person', 'unit', 'operator'] as const) if (other !== kind) expect(await activeAccount(lookups, other, ID)).toBeUndefined();
  });

  it('when the code decides the account kind of a request or whether an account is active, then it asks the one source', () => {
    const offenders = sources().flatMap(([file, text]) => restatedKnowledge(file, text));
    expect(offenders).toEqual([]);
  });

  it.each([
    ["const kind = params.accountKind ?? 'person';", 'decides the account kind'],
    ['const kind =\n  params.accountKind ??\n  "person";', 'decides the account kind'],
    ['const kinds = CONSOLE_KINDS as readonly string[];', 'decides the account kind'],
    ["if (console === 'person') return;", 'decides the account kind'],
    ["const isPerson = kind === 'person';", 'decides the account kind'],
    ["const isPerson =\n  kind ===\n  'person';", 'decides the account kind'],
    ["const active = (await persons.byId(id))?.status === 'active';", "checks an account's status itself"],
    ["const active =\n  (\n    await persons.byId(\n      id,\n    )\n  )?.status === 'active';", "checks an account's status itself"],
    ["if (person.status !== 'active') return false;", "checks an account's status itself"],
    ["if (\n  person.status !==\n  'active'\n)\n  return false;", "checks an account's status itself"],
  ])('when a planted source holds %j, then the check reports that it %s', (text, what) => {
    expect(restatedKnowledge('src/planted.ts', text)).toEqual([`src/planted.ts: ${what}`]);
  });

  it.each([
    ["// kind === 'person'; is decided in console-client"],
    ['const message = "(await persons.byId(id))?.status === \'active\'";'],
    ["const same = kind === 'person' && other;"],
  ])('when a planted source holds %j, then the check finds nothing', (text) => {
    expect(restatedKnowledge('src/planted.ts', text)).toEqual([]);
  });
});
