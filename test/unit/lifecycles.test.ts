import { BINDING_STATUSES, canTransition, effectiveStatus, LIVE, TERMINAL, TRANSITIONS, type BindingAction, type BindingStatus } from '../../src/modules/bindings/lifecycle.js';
import { canTransitionRealname, REALNAME_TERMINAL, REALNAME_TRANSITIONS, type RealnameAction, type RealnameStatus } from '../../src/modules/persons/realname-lifecycle.js';
import {
  APPEAL_STATUSES,
  APPEAL_TERMINAL,
  APPEAL_TRANSITIONS,
  appealState,
  canTransitionAppeal,
  type AppealAction,
  type AppealStatus,
} from '../../src/modules/recovery/appeal-lifecycle.js';
import { CODE_TERMINAL, CODE_TRANSITIONS, CODE_UNSETTLED_SQL, codeLiveSql, codeState, type CodeState } from '../../src/modules/units/code-lifecycle.js';
import { sqlStates } from '../../src/shared/lifecycle.js';

/**
 * The walk every lifecycle table gets: each (action, from) pair is allowed exactly when `expected` says so, and no
 * action leaves a terminal state.
 */
function walkTable<A extends string, S extends string>(
  entity: string,
  table: { transitions: Record<A, unknown>; statuses: readonly S[]; expected: Record<A, readonly S[]>; terminal: readonly S[]; can: (action: A, from: S) => boolean },
): void {
  const actions = Object.keys(table.expected) as A[];
  it(`when the ${entity} table is read, then it has exactly the expected actions`, () => {
    expect(Object.keys(table.transitions).sort()).toEqual([...actions].sort());
  });
  const pairs = actions.flatMap((action) => table.statuses.map((from) => [action, from, table.expected[action].includes(from)] as const));
  it.each(pairs)(`when %s is asked of a %s ${entity}, then it is allowed: %s`, (action, from, allowed) => {
    expect(table.can(action, from)).toBe(allowed);
  });
  it.each(table.terminal.map((status) => [status]))(`when a ${entity} is %s, then no action leaves that state (terminal)`, (status) => {
    for (const action of actions) expect(table.can(action, status)).toBe(false);
  });
}

const AT = new Date('2026-03-01T00:00:00Z');
const BEFORE = new Date(AT.getTime() - 1000);
const AFTER = new Date(AT.getTime() + 1000);

describe('binding lifecycle (R-B1–R-B6)', () => {
  const expected: Record<BindingAction, readonly BindingStatus[]> = { accept: ['pending'], decline: ['pending'], unbind: ['pending', 'active'] };
  walkTable('binding', { transitions: TRANSITIONS, statuses: BINDING_STATUSES, expected, terminal: TERMINAL, can: canTransition });

  it.each([
    ['accept', 'active', 'person'],
    ['decline', 'declined', 'person'],
    ['unbind', 'unbound', 'unit'],
  ] as const)('when %s succeeds, then the binding is %s and it was the %s who acted', (action, to, by) => {
    expect(TRANSITIONS[action]).toMatchObject({ to, by });
  });

  it('when the live statuses are listed, then they are exactly the non-terminal ones (R-B2: one live binding per pair)', () => {
    expect([...LIVE].sort()).toEqual(['active', 'pending']);
    expect(sqlStates(LIVE)).toBe("('pending', 'active')");
  });

  it.each([
    ['active', null, null, 'active'],
    ['active', null, BEFORE, 'expired'],
    ['active', null, AT, 'expired'],
    ['active', AFTER, null, 'not_yet_valid'],
    ['active', BEFORE, AFTER, 'active'],
    ['pending', null, BEFORE, 'pending'],
    ['unbound', null, BEFORE, 'unbound'],
  ] as const)('when a %s binding is valid from %s until %s, then it is effectively %s', (status, validFrom, validUntil, effective) => {
    expect(effectiveStatus({ status, validFrom, validUntil }, AT)).toBe(effective);
  });
});

describe('real-name verification lifecycle (R-P2)', () => {
  const statuses: readonly RealnameStatus[] = ['none', 'pending', 'verified', 'rejected'];
  const expected: Record<RealnameAction, readonly RealnameStatus[]> = { submit: ['none', 'rejected'], verify: ['pending'], reject: ['pending'] };

  walkTable('real-name status', { transitions: REALNAME_TRANSITIONS, statuses, expected, terminal: REALNAME_TERMINAL, can: canTransitionRealname });

  it.each([
    ['submit', 'pending'],
    ['verify', 'verified'],
    ['reject', 'rejected'],
  ] as const)('when %s succeeds, then the status is %s', (action, to) => {
    expect(REALNAME_TRANSITIONS[action].to).toBe(to);
  });

  it('when a person is verified, then that is the only terminal state, and a rejected person may submit again', () => {
    expect(REALNAME_TERMINAL).toEqual(['verified']);
    expect(canTransitionRealname('submit', 'rejected')).toBe(true);
  });
});

describe('appeal lifecycle (R-R3)', () => {
  const expected: Record<AppealAction, readonly AppealStatus[]> = { approve: ['pending'], reject: ['pending'], complete: ['approved'] };

  walkTable('appeal', { transitions: APPEAL_TRANSITIONS, statuses: APPEAL_STATUSES, expected, terminal: APPEAL_TERMINAL, can: canTransitionAppeal });

  it.each([
    ['approve', 'approved', 'operator'],
    ['reject', 'rejected', 'operator'],
    ['complete', 'completed', 'applicant'],
  ] as const)('when %s succeeds, then the appeal is %s and it was the %s who acted', (action, to, by) => {
    expect(APPEAL_TRANSITIONS[action]).toMatchObject({ to, by });
  });

  it.each([
    ['approved', AFTER, 'approved'],
    ['approved', AT, 'expired'],
    ['approved', BEFORE, 'expired'],
    ['pending', null, 'pending'],
    ['completed', BEFORE, 'completed'],
    ['rejected', null, 'rejected'],
  ] as const)('when a %s appeal has its link valid until %s, then its state is %s', (status, linkExpiresAt, state) => {
    expect(appealState({ status, linkExpiresAt }, AT)).toBe(state);
  });
});

describe('counter authorisation code lifecycle (R-U5)', () => {
  it.each([
    [null, null, AFTER, 'live'],
    [null, null, AT, 'expired'],
    [null, null, BEFORE, 'expired'],
    [BEFORE, null, AFTER, 'used'],
    [null, BEFORE, AFTER, 'invalidated'],
    [BEFORE, BEFORE, BEFORE, 'used'],
    [null, BEFORE, BEFORE, 'invalidated'],
  ] as const)('when a code was used at %s, invalidated at %s and expires at %s, then it is %s', (usedAt, invalidatedAt, expiresAt, state) => {
    expect(codeState({ usedAt, invalidatedAt, expiresAt }, AT)).toBe(state);
  });

  it.each([
    ['redeem', 'used', 'used_at'],
    ['invalidate', 'invalidated', 'invalidated_at'],
  ] as const)('when %s happens to a live code, then it becomes %s, recorded in %s', (action, to, column) => {
    expect(CODE_TRANSITIONS[action]).toMatchObject({ from: ['live'], to, column });
  });

  it('when a code is anything but live, then it is terminal; the SQL filters name every transition column', () => {
    const states: readonly CodeState[] = ['live', 'used', 'expired', 'invalidated'];
    expect(states.filter((state) => !CODE_TERMINAL.includes(state))).toEqual(['live']);
    expect(CODE_UNSETTLED_SQL).toBe('used_at IS NULL AND invalidated_at IS NULL');
    expect(codeLiveSql('$2')).toBe('used_at IS NULL AND invalidated_at IS NULL AND expires_at > $2');
  });
});

describe('SQL status filters from lifecycle tables', () => {
  it.each([[[]], [["pending'); DROP TABLE person; --"]], [['Pending']]] as const)('when the states are %j, then no SQL is built', (states) => {
    expect(() => sqlStates(states)).toThrow('not lifecycle states');
  });
});
