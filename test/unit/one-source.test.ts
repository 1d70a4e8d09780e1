import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BASE_SCOPES, IDENTITY_SCOPES, isIdentityScope, loadClients } from '../../src/config/clients.js';
import { CONSOLE_KINDS } from '../../src/oidc/console-client.js';
import { ACCOUNT_KINDS, isAccountKind, isUuid, parseAccountId } from '../../src/shared/account-id.js';
import { testClient, testClientsFile } from '../support/fixtures.js';

/** Knowledge that lives in one place (issue #13): account kinds, base scopes, the client look-up, the UUID check. */
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

  it.each([['person', true], ['unit', true], ['operator', true], ['system', false], ['Person', false], [undefined, false]])(
    'when the account kind is %j, then it is one of ours: %s', (kind, expected) => {
      expect(isAccountKind(kind)).toBe(expected);
    },
  );

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
    ['6f1c2b4e-8a2d-4c1e-9f00-1234567890ab', true], ['6F1C2B4E-8A2D-4C1E-9F00-1234567890AB', false],
    ['6f1c2b4e8a2d4c1e9f001234567890ab', false], ['------------------------------------', false], [42, false],
  ])('when %j is checked as an id, then it is a canonical UUID: %s', (value, expected) => {
    expect(isUuid(value)).toBe(expected);
  });
});
