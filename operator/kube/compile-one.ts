/**
 * Compiles one resource at a time from the informers' view, for the Kubernetes mode: the same
 * compile functions as file mode, given an Env holding only what that resource refers to
 * (its namespace's Secrets and EventTypes). Cheap enough per reconcile: schema verdicts are
 * remembered by digest, so an EventType's schema is compiled by ajv once per content.
 */
import type {
  CompiledEventType,
  CompiledProducer,
  CompiledSubscription,
} from '../../core/config/model.js';
import { hashApiKey } from '../../core/config/seal.js';
import { createSchemaAjv } from '../../core/json-schema.js';
import { readSecretValue } from '../../core/resources/validate.js';
import {
  Kind,
  type EventType,
  type Producer,
  type Subscription,
} from '../../core/resources/types.js';
import {
  compileEventType,
  compileProducer,
  typeOwnerKey,
  type CompileOptions,
  type ResourceProblem,
} from '../compile.js';
import { idOf, namespaceOf, type Env } from '../compile-context.js';
import { compileSubscription } from '../compile-subscription.js';
import type { ResourceStore } from './resource-store.js';

export interface CompileOutcome<T> {
  compiled?: T;
  problems: ResourceProblem[];
}

const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class ResourceCompiler {
  private readonly ajv = createSchemaAjv();
  private readonly schemaVerdicts = new Map<string, string | null>();
  /** Sticky owner of each (namespace, type): a newcomer never takes a live type away. */
  private readonly typeOwners = new Map<string, string>();

  constructor(
    private readonly options: CompileOptions,
    private readonly store: ResourceStore,
  ) {}

  /** Seeds ownership from the config already in KV (what a previous operator decided). */
  seedTypeOwners(owners: ReadonlyMap<string, string>): void {
    for (const [k, v] of owners) if (!this.typeOwners.has(k)) this.typeOwners.set(k, v);
  }

  private envFor(namespace: string): Env {
    return {
      options: this.options,
      problems: [],
      secrets: new Map(
        this.store.secretsIn(namespace).map((s) => [idOf(namespace, s.metadata.name), s]),
      ),
      eventTypes: new Map(),
      ajv: this.ajv,
      apiKeyOwners: new Map(),
      schemaVerdicts: this.schemaVerdicts,
    };
  }

  /**
   * Who owns each type claimed in the namespace: the previous owner while it still claims it;
   * else the oldest claimant (then name order), as Kubernetes users expect first-come-first-served.
   */
  private ownersIn(namespace: string): Map<string, string> {
    const claimants = new Map<string, EventType[]>();
    for (const et of this.store.list<EventType>(Kind.EventType, namespace)) {
      const key = typeOwnerKey(namespace, et.spec.type);
      claimants.set(key, [...(claimants.get(key) ?? []), et]);
    }
    const owners = new Map<string, string>();
    for (const [key, list] of claimants) {
      const previous = this.typeOwners.get(key);
      let owner = list.find((et) => et.metadata.name === previous)?.metadata.name;
      if (owner === undefined) {
        const sorted = [...list].sort(
          (a, b) =>
            compareText(a.metadata.creationTimestamp ?? '', b.metadata.creationTimestamp ?? '') ||
            compareText(a.metadata.name, b.metadata.name),
        );
        owner = sorted[0]!.metadata.name;
      }
      owners.set(key, owner);
      this.typeOwners.set(key, owner);
    }
    return owners;
  }

  compileEventType(r: EventType): CompileOutcome<CompiledEventType> {
    const env = this.envFor(namespaceOf(r));
    const compiled = compileEventType(env, r, this.ownersIn(namespaceOf(r)));
    return { ...(compiled && { compiled }), problems: env.problems };
  }

  /** The namespace's EventTypes that compile, as Producers and Subscriptions see them. */
  private fillEventTypes(env: Env, namespace: string, names: readonly string[]): void {
    const owners = this.ownersIn(namespace);
    for (const name of new Set(names)) {
      const r = this.store.get<EventType>(Kind.EventType, namespace, name);
      if (!r || r.metadata.deletionTimestamp) continue;
      const scratch: Env = { ...env, problems: [] };
      const et = compileEventType(scratch, r, owners);
      if (et) env.eventTypes.set(idOf(namespace, name), et);
    }
  }

  compileProducer(r: Producer): CompileOutcome<CompiledProducer> {
    const namespace = namespaceOf(r);
    const env = this.envFor(namespace);
    this.fillEventTypes(env, namespace, r.spec.eventTypes);
    // An API key identifies one Producer: those before this one (namespace/name order) keep theirs.
    const id = idOf(namespace, r.metadata.name);
    for (const other of this.store.list<Producer>(Kind.Producer)) {
      const otherId = idOf(namespaceOf(other), other.metadata.name);
      if (compareText(otherId, id) >= 0) continue;
      for (const k of other.spec.auth?.apiKeys ?? []) {
        const secret = this.store.secret(namespaceOf(other), k.secretRef.name);
        const value = secret ? readSecretValue(secret, k.secretRef.key)?.trim() : undefined;
        if (!value) continue;
        const hash = hashApiKey(value);
        if (!env.apiKeyOwners.has(hash)) env.apiKeyOwners.set(hash, otherId);
      }
    }
    const compiled = compileProducer(env, r);
    return { ...(compiled && { compiled }), problems: env.problems };
  }

  compileSubscription(r: Subscription): CompileOutcome<CompiledSubscription> {
    const namespace = namespaceOf(r);
    const env = this.envFor(namespace);
    this.fillEventTypes(env, namespace, r.spec.eventTypes);
    const compiled = compileSubscription(env, r);
    return { ...(compiled && { compiled }), problems: env.problems };
  }
}
