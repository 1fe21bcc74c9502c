import { strict as assert } from 'node:assert';
import { SchemaValidators } from '../../broker/schemas.js';
import { ORDER_SCHEMA, buildEventType } from './fixture.js';

describe('broker schema validators', () => {
  it('compiles once per digest, shares it across types, and drops unused digests', () => {
    const validators = new SchemaValidators();
    const a = buildEventType('a', 'com.example.a', ORDER_SCHEMA);
    const b = buildEventType('b', 'com.example.b', ORDER_SCHEMA);
    const c = buildEventType('c', 'com.example.c', { type: 'string', $id: 'https://x/s' });
    const d = buildEventType('d', 'com.example.d', { type: 'integer', $id: 'https://x/s' });
    const first = validators.prepare(a);
    assert.equal(validators.prepare(b), first, 'same digest, same compiled schema');
    validators.prepare(c);
    validators.prepare(d); // same $id, different schema: both must compile
    assert.equal(validators.size, 3);
    assert.deepEqual(validators.check(c, 'x'), { ok: true });
    assert.deepEqual(validators.check(d, 3), { ok: true });
    validators.retainOnly([b, d]);
    assert.equal(validators.size, 2);
    validators.retainOnly([b]);
    assert.equal(validators.size, 1);
    // A dropped schema recompiles on demand (ajv's own cache was released too).
    assert.deepEqual(validators.check(c, 'x'), { ok: true });
  });

  it('reports every violation, naming the missing property in the first path', () => {
    const validators = new SchemaValidators();
    const et = buildEventType('a', 'com.example.a', ORDER_SCHEMA);
    const result = validators.check(et, { total: 'x' });
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.equal(result.firstPath, '/orderId');
    assert.deepEqual(result.violations, [
      { instancePath: '', message: "must have required property 'orderId'" },
      { instancePath: '/total', message: 'must be number' },
    ]);
    const absent = validators.check(et, undefined);
    assert.equal(absent.ok, false, 'absent data is checked as null');
  });

  it('treats a type without a schema as accepting anything', () => {
    const validators = new SchemaValidators();
    const et = buildEventType('free', 'com.example.free');
    assert.deepEqual(validators.check(et, 'whatever'), { ok: true });
    assert.equal(validators.size, 0);
  });
});
