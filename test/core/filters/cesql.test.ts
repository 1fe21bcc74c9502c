/**
 * CESQL beyond the TCK: what users would notice and the kit does not cover — nesting bounds,
 * long expressions, 32-bit overflow, precedence, escapes, Unicode, LIKE's worst case,
 * compile-time checks, parse error positions and the filter verdict.
 */
import { strict as assert } from 'node:assert';
import {
  CesqlParseError,
  compileCesql,
  MAX_NESTING,
  type CesqlAttributes,
  type CesqlValue,
} from '../../../core/filters/cesql/index.js';

const event: CesqlAttributes = {
  specversion: '1.0',
  id: 'e-1',
  source: 'https://acme.example/orders',
  type: 'com.example.order.created',
  subject: 'eu-42',
  myext: 3,
  urgent: true,
  ratio: 1.5,
};

function run(expression: string, attributes = event): { value: CesqlValue; kinds: string[] } {
  const { value, errors } = compileCesql(expression).evaluate(attributes);
  return { value, kinds: errors.map((e) => e.kind) };
}

function assertParseError(expression: string, reason: RegExp, position?: number): void {
  assert.throws(
    () => compileCesql(expression),
    (err: unknown) => {
      assert.ok(err instanceof CesqlParseError, String(err));
      assert.match(err.reason, reason);
      if (position !== undefined) assert.equal(err.position, position);
      return true;
    },
  );
}

const nest = (n: number, open: string, inner: string, close = ''): string =>
  open.repeat(n) + inner + close.repeat(n);

describe('CESQL engine', () => {
  describe('nesting is bounded, never a stack overflow', () => {
    it(`accepts ${MAX_NESTING} levels of parentheses and refuses ${MAX_NESTING + 1}`, () => {
      assert.deepEqual(run(nest(MAX_NESTING, '(', 'TRUE', ')')), { value: true, kinds: [] });
      assertParseError(nest(MAX_NESTING + 1, '(', 'TRUE', ')'), /nested deeper than 64 levels/);
    });

    const hostile: [string, string][] = [
      ['100,000 parentheses', nest(100_000, '(', 'TRUE', ')')],
      ['100,000 unclosed parentheses', nest(100_000, '(', 'TRUE')],
      ['100,000 NOTs', nest(100_000, 'NOT ', 'TRUE')],
      ['100,000 minus signs', nest(100_000, '- ', 'x')],
      ['nested function calls', nest(10_000, 'LOWER(', "'a'", ')')],
      ['nested IN sets', nest(10_000, 'x IN (', '1', ')')],
      ['a 100,000-term sum', Array.from({ length: 100_000 }, () => '1').join(' + ')],
      ['a 100,000-term comparison chain', Array.from({ length: 100_000 }, () => 'a').join(' = ')],
    ];
    for (const [name, expression] of hostile) {
      it(`refuses ${name} with a parse error`, () => {
        assertParseError(expression, /nested deeper than 64 levels/);
      });
    }
  });

  describe('long expressions', () => {
    it('compiles and evaluates a 5,000-clause OR (flat, not 5,000 levels deep)', () => {
      const clauses = Array.from({ length: 5_000 }, (_, i) => `subject = 'eu-${i}'`);
      const expr = compileCesql(clauses.join(' OR '));
      assert.equal(expr.test(event), true);
      assert.equal(expr.test({ ...event, subject: 'eu-5000' }), false);
      assert.equal(expr.test({ ...event, subject: 'eu-4999' }), true);
    });

    it('compiles a 2,000-clause AND and a 1,000-value IN set', () => {
      const and = Array.from({ length: 2_000 }, () => 'EXISTS subject').join(' AND ');
      assert.equal(compileCesql(and).test(event), true);
      const set = Array.from({ length: 1_000 }, (_, i) => `'v${i}'`).join(', ');
      assert.equal(compileCesql(`'v999' IN (${set})`).test(event), true);
    });

    it('keeps a 1 MB string literal intact', () => {
      const big = 'x'.repeat(1_000_000);
      assert.deepEqual(run(`LENGTH('${big}')`), { value: 1_000_000, kinds: [] });
    });
  });

  describe('32-bit integers', () => {
    const cases: [string, CesqlValue, string[]][] = [
      ['2147483647 + 1', -2147483648, ['math']],
      ['-2147483648 - 1', 2147483647, ['math']],
      ['65536 * 65536', 0, ['math']],
      ['-2147483648 / -1', -2147483648, ['math']],
      ['-(-2147483648)', -2147483648, ['math']],
      ['-2147483648 % -1', 0, []],
      ['2147483647 * -1', -2147483647, []],
      ['-2147483648', -2147483648, []],
      ['+7 + 1', 8, []],
      ['-7 / 2', -3, []],
      ['-7 % 2', -1, []],
      ['7 % -2', 1, []],
      ['0 * -1', 0, []],
      ["INT('2147483648')", 0, ['cast']],
      ["INT('-2147483648')", -2147483648, []],
      ["INT('+0007')", 7, []],
      ["INT(' 7')", 0, ['cast']],
      ["INT('7.0')", 0, ['cast']],
    ];
    for (const [expression, value, kinds] of cases) {
      it(`${expression} → ${String(value)}${kinds.length ? ` with ${kinds.join()}` : ''}`, () => {
        assert.deepEqual(run(expression), { value, kinds });
      });
    }

    it('refuses integer literals beyond 32 bits at parse time', () => {
      assertParseError('2147483648', /does not fit in 32 bits/, 0);
      assertParseError('x = -2147483649', /does not fit in 32 bits/, 4);
    });

    it('reads an attribute that is not a 32-bit integer as a String (spec §3.2)', () => {
      assert.deepEqual(run('ratio'), { value: '1.5', kinds: [] });
      assert.deepEqual(run("ratio = '1.5'"), { value: true, kinds: [] });
    });
  });

  describe('precedence and grouping (spec §3.6)', () => {
    const cases: [string, CesqlValue][] = [
      ['FALSE AND FALSE OR TRUE', true], // (FALSE AND FALSE) OR TRUE: left to right
      ['TRUE OR FALSE AND FALSE', false], // (TRUE OR FALSE) AND FALSE
      ['TRUE OR (FALSE AND FALSE)', true],
      ['TRUE XOR TRUE XOR TRUE', true],
      ['NOT TRUE = FALSE', true], // unary binds tighter: (NOT TRUE) = FALSE
      ['NOT (TRUE = FALSE)', true],
      ['-2 * 3 + 1', -5],
      ['2 + 3 * 4 - 6 / 2', 11],
      ['10 - 4 - 3', 3],
      ['2 * 3 = 6 AND 1 < 2', true],
      ['1 < 2 = TRUE', true],
      ["subject LIKE 'eu%' = TRUE", true],
      ['myext IN (1, 2, 3) AND NOT EXISTS missing', true],
      ["NOT subject NOT LIKE 'eu%'", false], // (NOT subject) is a cast error → false
    ];
    for (const [expression, value] of cases) {
      it(`${expression} → ${String(value)}`, () => {
        assert.equal(run(expression).value, value);
      });
    }
  });

  describe('case sensitivity', () => {
    it('keywords, function and attribute names are case-insensitive; values are not', () => {
      assert.deepEqual(run("exists SUBJECT and Subject like 'eu%'"), { value: true, kinds: [] });
      assert.deepEqual(run("concat_ws('-', LoWeR('A'), 'B')"), { value: 'a-B', kinds: [] });
      assert.deepEqual(run("subject = 'EU-42'"), { value: false, kinds: [] });
      assert.deepEqual(run("subject LIKE 'EU%'"), { value: false, kinds: [] });
    });
  });

  describe('string literals', () => {
    const cases: [string, string][] = [
      ["'it''s'", "it's"],
      ["'it\\'s'", "it's"],
      ['"say \\"hi\\""', 'say "hi"'],
      ['"it\'s"', "it's"],
      ["'a\\b'", 'a\\b'],
      ["'tab\there'", 'tab\there'],
      ["''", ''],
    ];
    for (const [source, value] of cases) {
      it(`${source} is ${JSON.stringify(value)}`, () => {
        assert.deepEqual(run(source), { value, kinds: [] });
      });
    }
  });

  describe('LIKE', () => {
    const cases: [string, string, boolean][] = [
      ['eu-42', 'eu-%', true],
      ['eu-42', '%42', true],
      ['eu-42', '%-4%', true],
      ['eu-42', '%', true],
      ['', '%', true],
      ['', '', true],
      ['a', '', false],
      ['eu-42', 'eu-4_', true],
      ['eu-42', 'eu-_', false],
      ['eu%42', 'eu\\%%', true],
      ['eu-42', 'eu\\%%', false],
      ['a_b', 'a\\_b', true],
      ['axb', 'a\\_b', false],
      ['a\\b', 'a\\b', true],
      ['😀', '_', true],
      ['x😀y', 'x_y', true],
      ['abcabd', '%abd', true],
      ['aXbXc', 'a%b%c', true],
      ['aXbXd', 'a%b%c', false],
      ['mississippi', '%iss%ipp%', true],
    ];
    for (const [value, pattern, matches] of cases) {
      it(`${JSON.stringify(value)} LIKE ${JSON.stringify(pattern)} → ${matches}`, () => {
        const expression = `v LIKE '${pattern.replaceAll("'", "''")}'`;
        assert.equal(compileCesql(expression).test({ v: value }), matches);
      });
    }

    it('stays linear-ish on a pathological pattern and value (no regex backtracking)', () => {
      const expr = compileCesql(`v LIKE '${'%a'.repeat(20)}%b'`);
      const started = process.hrtime.bigint();
      assert.equal(expr.test({ v: 'a'.repeat(20_000) }), false);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      assert.ok(ms < 1_000, `took ${ms} ms`);
    });
  });

  describe('functions', () => {
    const cases: [string, CesqlValue, string[]][] = [
      ["LENGTH('😀a')", 2, []],
      ["LEFT('😀ab', 2)", '😀a', []],
      ["RIGHT('ab😀', 1)", '😀', []],
      ["SUBSTRING('a😀bc', 2, 2)", '😀b', []],
      ["SUBSTRING('abc', 0, -1)", '', ['functionEvaluation']],
      ["TRIM('\u3000\u0085 x \t')", 'x', []],
      ["TRIM('\ufeffx')", '\ufeffx', []], // U+FEFF is not Unicode White_Space
      ['ABS(myext - 10)', 7, []],
      ["IS_INT('12') AND IS_BOOL(\"False\") AND NOT IS_INT('x')", true, []],
      ['IS_INT(missing)', false, ['missingAttribute']],
      ["LENGTH(LEFT('abc', -1))", 0, ['functionEvaluation']],
      ["LEFT('abc', 'x')", '', ['cast']],
      ["CONCAT(1, TRUE, 'x')", '1truex', []],
    ];
    for (const [expression, value, kinds] of cases) {
      it(`${expression} → ${JSON.stringify(value)}`, () => {
        assert.deepEqual(run(expression), { value, kinds });
      });
    }

    it('finds calls to unknown functions at compile time and still evaluates per the spec', () => {
      const expr = compileCesql("subject = 'x' OR NOPE(subject) OR LEFT('a')");
      assert.deepEqual(
        expr.staticErrors.map((e) => [e.kind, e.message, e.position]),
        [
          ['missingFunction', 'no function NOPE takes 1 argument', 17],
          ['missingFunction', 'no function LEFT takes 1 argument', 34],
        ],
      );
      assert.deepEqual(run('NOPE(1)'), { value: false, kinds: ['missingFunction'] });
    });
  });

  describe('attribute operators agree whatever type the attribute holds', () => {
    const M = Symbol('missing');
    const table: [string, unknown, CesqlValue, string[]][] = [
      ['v = 3', 3, true, []],
      ['v = 3', '03', true, []],
      ['v = 3', 'x', false, ['cast']],
      ['v = 3', true, false, []],
      ['v = 3', 1.5, false, ['cast']],
      ['v = 3', M, false, ['missingAttribute']],
      ["v = 'true'", true, true, []],
      ["v != 'x'", 3, true, []],
      ['v = TRUE', 'TRUE', true, []],
      ['v <> TRUE', 0, true, []],
      ['v = TRUE', 'yes', false, ['cast']],
      ['v > 2', 3, true, []],
      ['v > 2', '3', true, []],
      ['v >= 2', true, false, []],
      ['v < 2', 'two', false, ['cast']],
      ["v LIKE '3%'", 30, true, []],
      ["v LIKE 't%'", true, true, []],
      ["v NOT LIKE 't%'", M, false, ['missingAttribute']],
      ["v IN ('3', 'x')", '3', true, []],
      ["v IN ('3', 'x')", 3, false, ['cast']],
      ["v NOT IN ('3', 'x')", 'y', true, []],
      ["v IN ('true', 'x')", true, false, ['cast']],
      ['v IN (1, 2)', '1', true, []],
    ];
    for (const [expression, v, value, kinds] of table) {
      const shown = v === M ? 'missing' : JSON.stringify(v);
      it(`${expression} with v = ${shown} → ${String(value)} ${kinds.join()}`, () => {
        const attributes = (v === M ? {} : { v }) as CesqlAttributes;
        assert.deepEqual(run(expression, attributes), { value, kinds });
        assert.equal(compileCesql(expression).test(attributes), value === true && !kinds.length);
      });
    }
  });

  describe('attributes', () => {
    it('never reads inherited object members as attributes', () => {
      assert.deepEqual(run("constructor = ''"), { value: false, kinds: ['missingAttribute'] });
      assert.deepEqual(run('EXISTS constructor OR EXISTS tostring'), { value: false, kinds: [] });
    });

    it('reports where a missing attribute is referenced', () => {
      const { errors } = compileCesql("subject = 'x' AND\n  region = 'eu'").evaluate({
        ...event,
        subject: 'x',
      });
      assert.deepEqual(errors, [
        {
          kind: 'missingAttribute',
          message: 'attribute "region" is not present in the event',
          position: 20,
        },
      ]);
    });
  });

  describe('parse errors name the problem and where it is', () => {
    const cases: [string, RegExp, number][] = [
      ['', /empty expression/, 0],
      ['  \n ', /empty expression/, 0],
      ["'abc", /unterminated string literal/, 0],
      ['a NOT b', /expected LIKE or IN after NOT/, 6],
      ['x IN ()', /IN needs at least one value/, 6],
      ['x IN 1', /IN needs a list of values in parentheses/, 5],
      ['x LIKE y', /LIKE needs a string literal as its pattern/, 7],
      ['EXISTS 5', /EXISTS needs an attribute name/, 7],
      ['f_1(x)', /"f_1" is not a function name/, 0],
      ['my_ext = 1', /"my_ext" is not an attribute name/, 0],
      ['TRUE TRUE', /unexpected 'TRUE'/, 5],
      [')', /unexpected '\)'/, 0],
      ['(1', /expected '\)' but found end of expression/, 2],
      ['a == b', /unexpected '='/, 3],
      ['a = 1 # b', /unexpected character "#"/, 6],
      ['a\u00a0= 1', /unexpected character/, 1],
      ['1 +', /unexpected end of expression/, 3],
    ];
    for (const [expression, reason, position] of cases) {
      it(`${JSON.stringify(expression)}: ${reason.source} at ${position}`, () => {
        assertParseError(expression, reason, position);
      });
    }

    it('gives line and column for multi-line expressions', () => {
      assert.throws(
        () => compileCesql("subject = 'x'\n  AND (region = 'eu'"),
        (err: unknown) =>
          err instanceof CesqlParseError &&
          err.line === 2 &&
          err.column === 21 &&
          /expected '\)' but found end of expression at line 2, column 21/.test(err.message),
      );
    });
  });

  describe('test(): the Subscriptions API filter verdict', () => {
    it('is true only for the Boolean TRUE with no error, event after event', () => {
      const expr = compileCesql("subject LIKE 'eu-%' AND myext > 2");
      assert.equal(expr.test(event), true);
      assert.equal(expr.test({ ...event, myext: 'x' }), false); // cast error
      assert.equal(expr.test(event), true); // the previous error does not linger
      assert.equal(expr.test({ ...event, myext: undefined }), false); // missing
      assert.equal(compileCesql('NOT (missing = 1)').test(event), false);
      assert.equal(compileCesql('1 = 1 OR 1 / 0 = 0').test(event), true); // short-circuit
      assert.equal(compileCesql('subject').test(event), false); // a String, not a Boolean
      assert.equal(compileCesql("'true'").test(event), false);
      assert.equal(compileCesql('urgent').test(event), true);
    });

    it('returns a fresh error list from evaluate()', () => {
      const expr = compileCesql('missing');
      const first = expr.evaluate(event);
      const second = expr.evaluate(event);
      assert.notEqual(first.errors, second.errors);
      assert.equal(first.errors.length, 1);
    });
  });
});
