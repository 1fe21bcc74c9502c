/**
 * The chart's `operator.attemptLog`, rendered with the real `helm`: its limits reach the
 * operator as HERALD_ATTEMPTS_MAX_AGE, _MAX_BYTES and _MAX_PER_SUBJECT, and values the operator
 * would refuse (zero, negative, not a duration or size) are refused at render time.
 */
import { strict as assert } from 'node:assert';
import {
  createOperatorRenderer,
  readOperatorEnv,
  type OperatorRenderer,
} from './render-operator.js';

const ENV_NAMES = [
  'HERALD_ATTEMPTS_MAX_AGE',
  'HERALD_ATTEMPTS_MAX_BYTES',
  'HERALD_ATTEMPTS_MAX_PER_SUBJECT',
] as const;

describe('Helm chart: operator.attemptLog', function () {
  this.timeout(60_000);
  let renderer: OperatorRenderer;

  before(() => {
    renderer = createOperatorRenderer();
  });
  after(() => renderer.close());

  const renderOperator = (set: string[]) => renderer.render(set);
  /** The three env vars of the operator container, in ENV_NAMES order. */
  const attemptLogEnv = (stdout: string) => ENV_NAMES.map((name) => readOperatorEnv(stdout, name));

  it('passes the CLI defaults (7d, 256Mi, 10000), and the values set, to the operator', async () => {
    const [defaults, custom, plainNumbers] = await Promise.all([
      renderOperator([]),
      renderOperator([
        'operator.attemptLog.maxAge=36h',
        'operator.attemptLog.maxBytes=2Gi',
        'operator.attemptLog.maxPerSubject=2500',
      ]),
      // Large numbers stay whole numbers (not 1.073741824e+09).
      renderOperator([
        'operator.attemptLog.maxBytes=1073741824',
        'operator.attemptLog.maxPerSubject=1000000',
      ]),
    ]);
    assert.equal(defaults.code, 0, defaults.stderr);
    assert.deepEqual(attemptLogEnv(defaults.stdout), ['7d', '256Mi', '10000']);
    assert.equal(custom.code, 0, custom.stderr);
    assert.deepEqual(attemptLogEnv(custom.stdout), ['36h', '2Gi', '2500']);
    assert.equal(plainNumbers.code, 0, plainNumbers.stderr);
    assert.deepEqual(attemptLogEnv(plainNumbers.stdout), ['7d', '1073741824', '1000000']);
  });

  it('refuses zero, negative and unparsable limits (values.schema.json), naming the value', async () => {
    const bad: [string, RegExp][] = [
      ['maxAge=0s', /maxAge/],
      ['maxAge=-1h', /maxAge/],
      ['maxAge=a week', /maxAge/],
      ['maxBytes=0', /maxBytes/],
      ['maxBytes=-5', /maxBytes/],
      ['maxBytes=0Mi', /maxBytes/],
      ['maxBytes=256MB', /maxBytes/],
      ['maxPerSubject=0', /maxPerSubject/],
      ['maxPerSubject=-1', /maxPerSubject/],
      ['maxPerSubject=many', /maxPerSubject/],
      ['maxPerSubject=null', /maxPerSubject/],
    ];
    const runs = await Promise.all(bad.map(([s]) => renderOperator([`operator.attemptLog.${s}`])));
    runs.forEach((run, i) => {
      const [set, names] = bad[i]!;
      assert.notEqual(run.code, 0, `${set} rendered:\n${run.stdout}`);
      assert.match(run.stderr, names, `${set}: ${run.stderr}`);
    });
  });
});
