import { strict as assert } from 'node:assert';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { readSecretValue, validateResource } from '../../core/resources/validate.js';
import type {
  EventType,
  HeraldResource,
  Secret,
  SecretKeyRef,
} from '../../core/resources/types.js';
import { loadExampleDocuments, type ExampleDocument } from './load-examples.js';

interface Loaded {
  namespaces: { name: string; file: string }[];
  resources: (HeraldResource & { file: string })[];
  secrets: Secret[];
}

function loadExamples(): Loaded {
  const loaded: Loaded = { namespaces: [], resources: [], secrets: [] };
  for (const doc of loadExampleDocuments()) {
    const value = doc.value as { kind?: string; metadata?: { name?: string } };
    if (value.kind === 'Namespace') {
      loaded.namespaces.push({ name: String(value.metadata?.name), file: doc.file });
      continue;
    }
    const result = validateResource(doc.value);
    assert.ok(result.ok, `${where(doc)}: ${JSON.stringify(result)}`);
    if (result.resource.kind === 'Secret') loaded.secrets.push(result.resource);
    else loaded.resources.push({ ...result.resource, file: doc.file });
  }
  return loaded;
}

const where = (doc: ExampleDocument): string => `examples/${doc.file} #${doc.index}`;
const namespaceOf = (r: { metadata: { namespace?: string } }): string =>
  r.metadata.namespace ?? 'default';

/** Every `secretRef` / `clientSecretRef` anywhere in a spec. */
function collectSecretRefs(value: unknown, found: SecretKeyRef[] = []): SecretKeyRef[] {
  if (Array.isArray(value)) value.forEach((v) => collectSecretRefs(v, found));
  else if (value !== null && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (key === 'secretRef' || key === 'clientSecretRef') found.push(v as SecretKeyRef);
      else collectSecretRefs(v, found);
    }
  }
  return found;
}

describe('examples/', () => {
  const examples = loadExamples();
  const eventTypes = examples.resources.filter(
    (r): r is EventType & { file: string } => r.kind === 'EventType',
  );
  const byKind = (kind: string) => examples.resources.filter((r) => r.kind === kind);

  it('hold the namespace, two EventTypes, a Producer, a Subscription and their Secrets', () => {
    assert.deepEqual(
      examples.namespaces.map((n) => n.name),
      ['shop'],
    );
    assert.deepEqual(
      eventTypes.map((e) => [e.metadata.name, e.spec.type]),
      [
        ['order-created', 'com.example.order.created'],
        ['order-shipped', 'com.example.order.shipped'],
      ],
    );
    assert.deepEqual(
      byKind('Producer').map((p) => p.metadata.name),
      ['acme'],
    );
    assert.deepEqual(
      byKind('Subscription').map((s) => s.metadata.name),
      ['demo-sink'],
    );
    assert.deepEqual(examples.secrets.map((s) => s.metadata.name).sort(), [
      'acme-credentials',
      'demo-sink-signing',
    ]);
  });

  it('create each namespace in a file kubectl applies before the resources in it', () => {
    for (const r of [...examples.resources, ...examples.secrets]) {
      const ns = examples.namespaces.find((n) => n.name === namespaceOf(r));
      assert.ok(
        ns,
        `${r.kind} ${r.metadata.name}: namespace ${namespaceOf(r)} is not in examples/`,
      );
      if ('file' in r) assert.ok(ns.file < r.file, `${ns.file} sorts before ${r.file}`);
    }
  });

  it('use each name once per kind and namespace, and each CloudEvents type once', () => {
    const keys = [...examples.resources, ...examples.secrets].map(
      (r) => `${r.kind}/${namespaceOf(r)}/${r.metadata.name}`,
    );
    assert.equal(new Set(keys).size, keys.length);
    const types = eventTypes.map((e) => `${namespaceOf(e)}/${e.spec.type}`);
    assert.equal(new Set(types).size, types.length);
  });

  it('resolve every EventType and Secret reference in the same namespace', () => {
    for (const r of examples.resources) {
      if (r.kind === 'EventType') continue;
      const ns = namespaceOf(r);
      for (const name of r.spec.eventTypes) {
        assert.ok(
          eventTypes.some((e) => e.metadata.name === name && namespaceOf(e) === ns),
          `${r.kind} ${r.metadata.name}: EventType ${ns}/${name} not found`,
        );
      }
      for (const ref of collectSecretRefs(r.spec)) {
        const secret = examples.secrets.find(
          (s) => s.metadata.name === ref.name && namespaceOf(s) === ns,
        );
        assert.ok(secret, `${r.kind} ${r.metadata.name}: Secret ${ns}/${ref.name} not found`);
        assert.ok(
          readSecretValue(secret, ref.key),
          `Secret ${ns}/${ref.name} has no key ${ref.key}`,
        );
      }
    }
  });

  it('give acme the documented demo API key and demo-sink a whsec_ secret of 24+ bytes', () => {
    const [producer] = byKind('Producer');
    const [apiKeyRef] = collectSecretRefs(producer!.spec);
    const find = (name: string) => examples.secrets.find((s) => s.metadata.name === name)!;
    assert.equal(
      readSecretValue(find(apiKeyRef!.name), apiKeyRef!.key),
      'acme-demo-key-0123456789',
    );
    const subscription = byKind('Subscription')[0];
    assert.ok(subscription?.kind === 'Subscription');
    assert.equal(subscription.spec.sink.uri, 'http://127.0.0.1:8088/');
    const ref = subscription.spec.delivery!.signing!.secretRef!;
    const signing = readSecretValue(find(ref.name), ref.key)!;
    assert.match(signing, /^whsec_[A-Za-z0-9+/]+={0,2}$/);
    assert.ok(Buffer.from(signing.slice('whsec_'.length), 'base64').length >= 24);
  });

  it('declare JSON Schemas (2020-12) that compile and accept a sample event', () => {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    addFormats.default(ajv);
    const samples: Record<string, unknown> = {
      'com.example.order.created': { orderId: 'o-1', total: 12.5 },
      'com.example.order.shipped': { orderId: 'o-1', carrier: 'dhl', trackingNumber: 'T1' },
    };
    for (const e of eventTypes) {
      const validate = ajv.compile(e.spec.schema ?? {});
      assert.ok(
        validate(samples[e.spec.type]),
        `${e.spec.type}: ${ajv.errorsText(validate.errors)}`,
      );
      assert.ok(!validate({}), `${e.spec.type} requires fields`);
    }
  });
});
