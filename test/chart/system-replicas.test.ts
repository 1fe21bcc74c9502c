/**
 * The chart's `operator.systemReplicas`, rendered with the real `helm`: it reaches the operator
 * as HERALD_SYSTEM_REPLICAS, and a count JetStream cannot take is refused at render time.
 */
import { strict as assert } from 'node:assert';
import {
  createOperatorRenderer,
  readOperatorEnv,
  type OperatorRenderer,
} from './render-operator.js';

describe('Helm chart: operator.systemReplicas', function () {
  this.timeout(60_000);
  let renderer: OperatorRenderer;

  before(() => {
    renderer = createOperatorRenderer();
  });
  after(() => renderer.close());

  const renderOperator = (set: string[]) => renderer.render(set);
  const systemReplicasEnv = (stdout: string) => readOperatorEnv(stdout, 'HERALD_SYSTEM_REPLICAS');

  it('passes 1 by default, and the value set, as HERALD_SYSTEM_REPLICAS', async () => {
    const [defaults, three] = await Promise.all([
      renderOperator([]),
      renderOperator(['operator.systemReplicas=3']),
    ]);
    assert.equal(defaults.code, 0, defaults.stderr);
    assert.equal(systemReplicasEnv(defaults.stdout), '1');
    assert.equal(three.code, 0, three.stderr);
    assert.equal(systemReplicasEnv(three.stdout), '3');
  });

  it('refuses 0, 6 and a non-number (values.schema.json), naming the value', async () => {
    const runs = await Promise.all(
      ['0', '6', 'three'].map((v) => renderOperator([`operator.systemReplicas=${v}`])),
    );
    for (const run of runs) {
      assert.notEqual(run.code, 0, `rendered:\n${run.stdout}`);
      assert.match(run.stderr, /systemReplicas/);
    }
  });
});
