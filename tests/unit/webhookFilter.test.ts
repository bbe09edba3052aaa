import { describe, expect, it } from 'vitest';
import { evaluateFilter, filterProblem, suggestFields, type WebhookFilter } from '../../src/agents/webhookFilter.js';

const none: WebhookFilter = { filterMode: null, filterField: null, filterAllowedValues: null, filterExpression: null };
const simple = (filterField: string | null, filterAllowedValues: unknown): WebhookFilter => ({ ...none, filterMode: 'simple', filterField, filterAllowedValues });
const advanced = (filterExpression: string | null): WebhookFilter => ({ ...none, filterMode: 'advanced', filterExpression });

describe('evaluateFilter without a mode', () => {
  it('lets everything through', () => {
    expect(evaluateFilter(none, 'anything')).toEqual({ passed: true });
  });
});

describe('evaluateFilter in simple mode', () => {
  const payload = JSON.stringify({ action: 'Opened', issue: { state: 'open', number: 7, labels: ['bug'] }, nothing: null });

  it('passes when no field is set', () => {
    expect(evaluateFilter(simple(null, ['x']), payload)).toEqual({ passed: true });
    expect(evaluateFilter(simple('', ['x']), payload)).toEqual({ passed: true });
  });

  it('lets a payload that is not JSON through, saying so', () => {
    expect(evaluateFilter(simple('action', ['opened']), 'action=opened')).toEqual({ passed: true, error: 'non-json' });
  });

  it('compares the value at the dot path with the allowed values, ignoring case', () => {
    expect(evaluateFilter(simple('action', ['opened', 'closed']), payload)).toEqual({ passed: true, extractedValue: 'Opened' });
    expect(evaluateFilter(simple('issue.state', ['closed']), payload)).toEqual({ passed: false, extractedValue: 'open' });
    expect(evaluateFilter(simple('issue.number', ['7']), payload)).toEqual({ passed: true, extractedValue: '7' });
  });

  it('turns away a missing or null value', () => {
    expect(evaluateFilter(simple('issue.missing', ['x']), payload)).toEqual({ passed: false, extractedValue: null });
    expect(evaluateFilter(simple('nothing', ['x']), payload)).toEqual({ passed: false, extractedValue: null });
    expect(evaluateFilter(simple('action.deeper', ['x']), payload)).toEqual({ passed: false, extractedValue: null });
  });

  it('does not reach into prototypes', () => {
    expect(evaluateFilter(simple('constructor', ['x']), payload)).toEqual({ passed: false, extractedValue: null });
  });

  it('turns everything away with an empty or absent allow-list', () => {
    expect(evaluateFilter(simple('action', []), payload)).toEqual({ passed: false, extractedValue: 'Opened' });
    expect(evaluateFilter(simple('action', null), payload)).toEqual({ passed: false, extractedValue: 'Opened' });
  });

  it('lets the payload through when the allowed values are not a list of strings', () => {
    expect(evaluateFilter(simple('action', 'opened'), payload)).toEqual({ passed: true, error: 'invalid-allowed-values' });
    expect(evaluateFilter(simple('action', [1, 2]), payload)).toEqual({ passed: true, error: 'invalid-allowed-values' });
  });
});

describe('evaluateFilter in advanced mode', () => {
  it('passes when no expression is set', () => {
    expect(evaluateFilter(advanced(null), 'x')).toEqual({ passed: true });
  });

  it('tests the regular expression, without flags, against the raw body', () => {
    expect(evaluateFilter(advanced('"action":\\s*"opened"'), '{"action": "opened"}')).toEqual({ passed: true });
    expect(evaluateFilter(advanced('OPENED'), '{"action": "opened"}')).toEqual({ passed: false });
  });

  it('lets the payload through when the expression is too long or invalid', () => {
    expect(evaluateFilter(advanced('a'.repeat(501)), 'x')).toEqual({ passed: true, error: 'expression-too-long' });
    expect(evaluateFilter(advanced('(unclosed'), 'x')).toEqual({ passed: true, error: 'invalid-regex' });
  });

  it('cuts off catastrophic backtracking instead of blocking the server', () => {
    const started = Date.now();
    expect(evaluateFilter(advanced('^(a+)+$'), `${'a'.repeat(40)}b`)).toEqual({ passed: true, error: 'regex-timeout' });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('filterProblem', () => {
  it('needs a field in simple mode and a valid expression of at most 500 characters in advanced mode', () => {
    expect(filterProblem({ filterMode: 'simple', filterField: '  ' })).toEqual({ field: 'filterField', message: 'filterField is required for simple mode' });
    expect(filterProblem({ filterMode: 'simple', filterField: 'action' })).toBeNull();
    expect(filterProblem({ filterMode: 'advanced' })?.message).toBe('filterExpression is required for advanced mode');
    expect(filterProblem({ filterMode: 'advanced', filterExpression: 'a'.repeat(501) })?.message).toBe('filterExpression must be at most 500 characters');
    expect(filterProblem({ filterMode: 'advanced', filterExpression: '[' })?.message).toBe('Invalid regular expression');
    expect(filterProblem({ filterMode: 'advanced', filterExpression: 'ok' })).toBeNull();
    expect(filterProblem({ filterMode: null })).toBeNull();
  });
});

describe('suggestFields', () => {
  it('lists dot paths depth-first in key order, not inside arrays', () => {
    const payload = JSON.stringify({ action: 'x', issue: { number: 1, user: { login: 'a' }, labels: [{ name: 'bug' }] }, repo: 'r' });
    expect(suggestFields(payload)).toEqual(['action', 'issue', 'issue.number', 'issue.user', 'issue.user.login', 'issue.labels', 'repo']);
  });

  it('gives nothing for arrays, primitives and text that is not JSON', () => {
    expect(suggestFields('[{"a":1}]')).toEqual([]);
    expect(suggestFields('42')).toEqual([]);
    expect(suggestFields('not json')).toEqual([]);
  });

  it('goes down five levels at most', () => {
    const deep = { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } };
    expect(suggestFields(JSON.stringify(deep))).toEqual(['a', 'a.b', 'a.b.c', 'a.b.c.d', 'a.b.c.d.e']);
  });

  it('stops at 100 paths', () => {
    const wide = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`k${i}`, { inner: i }]));
    const fields = suggestFields(JSON.stringify(wide));
    expect(fields).toHaveLength(100);
    expect(fields.slice(0, 3)).toEqual(['k0', 'k0.inner', 'k1']);
  });
});
