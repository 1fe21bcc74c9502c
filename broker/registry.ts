/**
 * The schema registry partners read on the broker's HTTP port: `GET /eventtypes`,
 * `GET /eventtypes/{ns}/{name}` (with its schema) and `GET /asyncapi.json`. By default a
 * request needs a producer's credentials and sees only the types that producer may publish;
 * `public` access lists every type without credentials (docs/schema-registry.md says why).
 * Rendered bodies are cached per view with a strong ETag until the config changes.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { MediaType } from '../core/cloudevents/types.js';
import type { ConfigCache } from '../core/config/kv.js';
import type { CompiledEventType, CompiledProducer } from '../core/config/model.js';
import { ConfigKeyPrefix } from '../core/topology.js';
import { buildAsyncApiDocument, type AsyncApiServer } from './asyncapi.js';
import { RouteLabel } from './metrics.js';
import { ProblemError, ProblemKind } from './problems.js';

export const RegistryAccess = {
  /** Credentials required; a producer sees the types it may publish. */
  Producer: 'producer',
  /** No credentials; every registered type is listed. */
  Public: 'public',
} as const;
export type RegistryAccess = (typeof RegistryAccess)[keyof typeof RegistryAccess];

export interface RegistryReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface SchemaRegistryOptions {
  cache: ConfigCache;
  access: RegistryAccess;
  /** The producer a request's credentials belong to; throws a 401 ProblemError. */
  authenticate: (headers: IncomingHttpHeaders) => CompiledProducer | Promise<CompiledProducer>;
  /**
   * Base URL partners use (e.g. `https://events.example.com`): the AsyncAPI server and the
   * `links`. Without it the server comes from the request's Host header, over plain HTTP.
   */
  publicUrl?: string;
  /** Rendered bodies kept at most (views × resources); default 1024. */
  maxCachedBodies?: number;
}

/** The registry's routes, by the path asked for; undefined for other paths. */
export function matchRegistryRoute(path: string): RouteLabel | undefined {
  if (path === '/eventtypes') return RouteLabel.EventTypes;
  if (path === '/asyncapi.json') return RouteLabel.AsyncApi;
  if (path.startsWith('/eventtypes/')) return RouteLabel.EventType;
  return undefined;
}

interface Rendered {
  body: string;
  etag: string;
}

const JSON_CONTENT_TYPE = `${MediaType.Json}; charset=utf-8`;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** host[:port] or [ipv6][:port]: anything else in a Host header is not echoed. */
const HOST_HEADER = /^([a-zA-Z0-9.-]{1,253}|\[[0-9a-fA-F:.]{2,45}\])(:\d{1,5})?$/;

export class SchemaRegistry {
  private readonly rendered = new Map<string, Rendered>();
  private readonly maxCached: number;
  private readonly configured: AsyncApiServer | undefined;

  constructor(private readonly options: SchemaRegistryOptions) {
    this.maxCached = options.maxCachedBodies ?? 1024;
    this.configured = options.publicUrl ? parsePublicUrl(options.publicUrl) : undefined;
    options.cache.on('change', (change) => {
      if (change.prefix !== ConfigKeyPrefix.Subscription) this.rendered.clear();
    });
  }

  /** Answers a GET/HEAD on one of the registry's routes; rejects with a ProblemError. */
  async serve(
    route: RouteLabel,
    path: string,
    headers: IncomingHttpHeaders,
  ): Promise<RegistryReply> {
    const { access } = this.options;
    const producer =
      access === RegistryAccess.Public ? undefined : await this.options.authenticate(headers);
    const view = producer === undefined ? '*' : `${producer.namespace}/${producer.name}`;
    let rendered: Rendered;
    let vary = access === RegistryAccess.Public ? '' : 'Authorization, X-API-Key';
    if (route === RouteLabel.EventTypes) {
      rendered = this.render(`${view}\0list`, () => ({
        eventTypes: this.listVisible(producer).map((et) => this.describe(et)),
      }));
    } else if (route === RouteLabel.EventType) {
      const et = this.findVisible(producer, path);
      rendered = this.render(`${view}\0type\0${et.namespace}/${et.name}`, () => ({
        ...this.describe(et),
        schema: et.schema ?? null,
      }));
    } else {
      const server = this.configured ?? serverFromHost(headers.host);
      if (this.configured === undefined) vary = vary === '' ? 'Host' : `${vary}, Host`;
      const serverKey = server ? `${server.protocol}://${server.host}` : '';
      rendered = this.render(`${view}\0asyncapi\0${serverKey}`, () =>
        buildAsyncApiDocument(this.listVisible(producer), server),
      );
    }
    const replyHeaders: Record<string, string> = {
      etag: rendered.etag,
      'cache-control': access === RegistryAccess.Public ? 'no-cache' : 'private, no-cache',
    };
    if (vary !== '') replyHeaders.vary = vary;
    if (matchesEtag(headers['if-none-match'], rendered.etag)) {
      return { status: 304, headers: replyHeaders, body: '' };
    }
    replyHeaders['content-type'] = JSON_CONTENT_TYPE;
    return { status: 200, headers: replyHeaders, body: rendered.body };
  }

  /** The types a request may see, by namespace and name. */
  private listVisible(producer: CompiledProducer | undefined): CompiledEventType[] {
    const { cache } = this.options;
    let types: CompiledEventType[];
    if (producer === undefined) types = [...cache.eventTypes.values()];
    else {
      types = [];
      for (const name of new Set(producer.eventTypes)) {
        const et = cache.findEventType(producer.namespace, name);
        if (et !== undefined) types.push(et);
      }
    }
    return types.sort(
      (a, b) => compareText(a.namespace, b.namespace) || compareText(a.name, b.name),
    );
  }

  /** The type `/eventtypes/{ns}/{name}` names, if this request may see it; else 404. */
  private findVisible(producer: CompiledProducer | undefined, path: string): CompiledEventType {
    const parts = path.slice('/eventtypes/'.length).split('/');
    const [namespace, name] = parts.map(decodeSegment);
    const visible =
      parts.length === 2 &&
      namespace !== undefined &&
      name !== undefined &&
      DNS_LABEL.test(namespace) &&
      DNS_LABEL.test(name) &&
      (producer === undefined ||
        (producer.namespace === namespace && producer.eventTypes.includes(name)));
    const et = visible ? this.options.cache.findEventType(namespace, name) : undefined;
    if (et === undefined) {
      // The same answer for "absent" and "not yours": no probing other producers' types.
      throw new ProblemError(ProblemKind.NotFound, `No event type at ${path}.`, {
        reason: 'unknown event type',
      });
    }
    return et;
  }

  private describe(et: CompiledEventType): Record<string, unknown> {
    const base = this.configured?.pathname ?? '';
    const self = `${base}/eventtypes/${et.namespace}/${et.name}`;
    return {
      namespace: et.namespace,
      name: et.name,
      type: et.type,
      description: et.description ?? null,
      dataContentType: et.dataContentType,
      deprecated: et.deprecated,
      schemaDigest: et.schema === undefined ? null : et.schemaDigest,
      links: {
        self,
        asyncapi: `${base}/asyncapi.json#/components/messages/${et.namespace}.${et.name}`,
      },
    };
  }

  private render(key: string, build: () => unknown): Rendered {
    let rendered = this.rendered.get(key);
    if (rendered === undefined) {
      const body = JSON.stringify(build());
      const digest = createHash('sha256').update(body).digest('base64url');
      rendered = { body, etag: `"${digest.slice(0, 27)}"` };
      if (this.rendered.size >= this.maxCached) {
        this.rendered.delete(this.rendered.keys().next().value as string);
      }
      this.rendered.set(key, rendered);
    }
    return rendered;
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** If-None-Match: `*` or a list of (possibly weak) tags; weak comparison, as RFC 9110 asks. */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

function parsePublicUrl(text: string): AsyncApiServer {
  const url = new URL(text);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`publicUrl must be an http or https URL, got "${text}"`);
  }
  return {
    host: url.host,
    protocol: url.protocol === 'https:' ? 'https' : 'http',
    pathname: url.pathname.replace(/\/+$/, ''),
  };
}

function serverFromHost(host: string | undefined): AsyncApiServer | undefined {
  if (host === undefined || !HOST_HEADER.test(host)) return undefined;
  return { host, protocol: 'http', pathname: '' };
}
