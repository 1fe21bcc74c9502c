import { strict as assert } from 'node:assert';
import {
  compileFilters,
  FilterErrorCode,
  isFilterError,
  type FilterAttributes,
} from '../../../core/filters/index.js';
import type { Filter } from '../../../core/resources/types.js';

const event: FilterAttributes = {
  specversion: '1.0',
  id: 'e-1',
  source: 'https://acme.example/orders',
  type: 'com.example.order.created',
  subject: 'eu-42',
  priority: 3,
  urgent: true,
};

describe('compileFilters (Subscriptions API dialects)', () => {
  const cases: { name: string; filters: Filter[]; matches: boolean }[] = [
    { name: 'no filters match everything', filters: [], matches: true },
    {
      name: 'exact match',
      filters: [{ exact: { type: 'com.example.order.created' } }],
      matches: true,
    },
    {
      name: 'exact is case-sensitive',
      filters: [{ exact: { type: 'COM.example.order.created' } }],
      matches: false,
    },
    {
      name: 'exact on a missing attribute',
      filters: [{ exact: { region: 'eu' } }],
      matches: false,
    },
    {
      name: 'exact ANDs its attributes',
      filters: [{ exact: { subject: 'eu-42', id: 'e-2' } }],
      matches: false,
    },
    {
      name: 'exact on an integer extension compares its string form',
      filters: [{ exact: { priority: '3' } }],
      matches: true,
    },
    {
      name: 'exact on a boolean extension',
      filters: [{ exact: { urgent: 'true' } }],
      matches: true,
    },
    {
      name: 'prefix match',
      filters: [{ prefix: { source: 'https://acme.example/' } }],
      matches: true,
    },
    {
      name: 'prefix mismatch',
      filters: [{ prefix: { source: 'https://other.example/' } }],
      matches: false,
    },
    {
      name: 'empty prefix matches a present attribute',
      filters: [{ prefix: { subject: '' } }],
      matches: true,
    },
    {
      name: 'empty prefix does not match a missing one',
      filters: [{ prefix: { region: '' } }],
      matches: false,
    },
    { name: 'suffix match', filters: [{ suffix: { type: '.created' } }], matches: true },
    { name: 'suffix mismatch', filters: [{ suffix: { type: '.deleted' } }], matches: false },
    { name: 'not negates', filters: [{ not: { exact: { subject: 'eu-42' } } }], matches: false },
    {
      name: 'not of a missing attribute matches',
      filters: [{ not: { exact: { region: 'eu' } } }],
      matches: true,
    },
    {
      name: 'any: one of several',
      filters: [{ any: [{ exact: { subject: 'us-1' } }, { prefix: { subject: 'eu-' } }] }],
      matches: true,
    },
    {
      name: 'any: none',
      filters: [{ any: [{ exact: { subject: 'us-1' } }, { suffix: { subject: '-7' } }] }],
      matches: false,
    },
    {
      name: 'all: every one',
      filters: [{ all: [{ prefix: { subject: 'eu-' } }, { suffix: { type: 'created' } }] }],
      matches: true,
    },
    {
      name: 'all: one fails',
      filters: [{ all: [{ prefix: { subject: 'eu-' } }, { suffix: { type: 'deleted' } }] }],
      matches: false,
    },
    {
      name: 'top-level list is ANDed',
      filters: [{ prefix: { subject: 'eu-' } }, { exact: { id: 'nope' } }],
      matches: false,
    },
    {
      name: 'nesting',
      filters: [
        {
          all: [
            { any: [{ exact: { id: 'x' } }, { not: { suffix: { source: '/invoices' } } }] },
            { not: { any: [{ exact: { subject: 'us-1' } }] } },
          ],
        },
      ],
      matches: true,
    },
    { name: 'sql true', filters: [{ sql: "subject LIKE 'eu-%'" }], matches: true },
    { name: 'sql false', filters: [{ sql: "subject LIKE 'us-%'" }], matches: false },
    {
      name: 'sql over typed extensions',
      filters: [{ sql: 'priority > 2 AND urgent AND priority IN (1, 3)' }],
      matches: true,
    },
    {
      name: 'sql with an evaluation error does not match, even under NOT',
      filters: [{ sql: 'NOT (region = 1)' }],
      matches: false,
    },
    {
      name: 'sql division by zero does not match',
      filters: [{ sql: '1 / 0 = 0' }],
      matches: false,
    },
    {
      name: 'sql whose value is a bare Boolean attribute',
      filters: [{ sql: 'urgent' }],
      matches: true,
    },
    {
      name: 'sql whose value is a String attribute',
      filters: [{ sql: 'subject' }],
      matches: false,
    },
    {
      name: 'sql ANDed with other dialects',
      filters: [{ prefix: { source: 'https://acme.example/' } }, { not: { sql: 'urgent' } }],
      matches: false,
    },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.matches}`, () => {
      assert.equal(compileFilters(c.filters)(event), c.matches);
    });
  }

  // Every plain object inherits `constructor`, `toString`…: they are not attributes. The
  // filters are JSON text, as YAML/JSON hands them over: own keys, whatever their names.
  const inherited: { filters: string; matches: boolean }[] = [
    { filters: '[{"prefix": {"constructor": "function"}}]', matches: false },
    { filters: '[{"prefix": {"toString": ""}}]', matches: false },
    { filters: '[{"suffix": {"hasOwnProperty": "}"}}]', matches: false },
    { filters: '[{"exact": {"__proto__": "[object Object]"}}]', matches: false },
    { filters: '[{"not": {"prefix": {"constructor": ""}}}]', matches: true },
  ];
  for (const c of inherited) {
    it(`does not read inherited properties: ${c.filters} → ${c.matches}`, () => {
      const match = compileFilters(JSON.parse(c.filters) as Filter[]);
      assert.equal(match(event), c.matches);
      assert.equal(match({}), c.matches);
    });
  }

  const invalid: { name: string; filters: unknown; code: string; path: RegExp }[] = [
    {
      name: 'sql that does not parse',
      filters: [{ sql: "subject LIKE 'eu-%' AND" }],
      code: FilterErrorCode.InvalidFilter,
      path: /^filters\[0\]\.sql: CESQL expression does not parse: unexpected end of expression at line 1, column 24 \(offset 23\)$/,
    },
    {
      name: 'sql nested that does not parse',
      filters: [{ not: { sql: 'subject LIKE 5' } }],
      code: FilterErrorCode.InvalidFilter,
      path: /^filters\[0\]\.not\.sql: .*LIKE needs a string literal/,
    },
    {
      name: 'sql calling a function that does not exist',
      filters: [{ sql: 'LENGHT(subject) > 2' }],
      code: FilterErrorCode.InvalidFilter,
      path: /^filters\[0\]\.sql: CESQL expression can never match: no function LENGHT takes 1 argument/,
    },
    {
      name: 'sql whose value is never a Boolean',
      filters: [{ sql: "CONCAT(subject, '!')" }],
      code: FilterErrorCode.InvalidFilter,
      path: /its value is a String, and a filter needs a Boolean/,
    },
    {
      name: 'empty sql',
      filters: [{ sql: '  ' }],
      code: FilterErrorCode.InvalidFilter,
      path: /must be a CESQL expression/,
    },
    {
      name: 'unknown dialect',
      filters: [{ regex: { type: '.*' } }],
      code: FilterErrorCode.InvalidFilter,
      path: /unknown dialect "regex"/,
    },
    {
      name: 'two dialects in one object',
      filters: [{ exact: { a: 'b' }, prefix: { a: 'b' } }],
      code: FilterErrorCode.InvalidFilter,
      path: /exactly one/,
    },
    {
      name: 'empty object',
      filters: [{}],
      code: FilterErrorCode.InvalidFilter,
      path: /found none/,
    },
    {
      name: 'empty exact',
      filters: [{ exact: {} }],
      code: FilterErrorCode.InvalidFilter,
      path: /at least one attribute/,
    },
    {
      name: 'non-string value',
      filters: [{ prefix: { subject: 3 } }],
      code: FilterErrorCode.InvalidFilter,
      path: /filters\[0\]\.prefix\.subject/,
    },
    {
      name: 'empty any',
      filters: [{ any: [] }],
      code: FilterErrorCode.InvalidFilter,
      path: /non-empty list/,
    },
    {
      name: 'all not a list',
      filters: [{ all: { exact: { a: 'b' } } }],
      code: FilterErrorCode.InvalidFilter,
      path: /non-empty list/,
    },
    {
      name: 'a filter that is not an object',
      filters: ['type'],
      code: FilterErrorCode.InvalidFilter,
      path: /must be an object/,
    },
  ];
  for (const c of invalid) {
    it(`rejects: ${c.name}`, () => {
      assert.throws(
        () => compileFilters(c.filters as Filter[]),
        (err: unknown) => isFilterError(err, c.code as never) && c.path.test(err.message),
      );
    });
  }
});
