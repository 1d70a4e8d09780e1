import { camelised } from '../../src/shared/db/rows.js';

/** The stores' one row mapping (issue #13): columns become camelCase properties, values untouched. */
describe('database rows as records', () => {
  it('when a row is camelised, then each column is renamed and each value kept as the driver returned it', () => {
    const at = new Date('2026-12-01T00:00:00Z');
    const scopes = ['biz:x'];
    const record = camelised({ id: 'b1', unit_id: 'u1', valid_from: null, created_at: at, scopes, link_expires_at: at });
    expect(record).toEqual({ id: 'b1', unitId: 'u1', validFrom: null, createdAt: at, scopes, linkExpiresAt: at });
    expect(record.createdAt).toBe(at);
    expect(record.scopes).toBe(scopes);
  });

  it('when a row has no column with an underscore, then it is copied as it is, and the row itself is not changed', () => {
    const row = { id: 'x', status: 'active' };
    expect(camelised(row)).toEqual(row);
    expect(camelised(row)).not.toBe(row);
    expect(Object.keys(camelised({ actor_type: 'person' }))).toEqual(['actorType']);
  });
});
