/**
 * Watch: newline-delimited JSON events (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR) on a
 * chunked 200 response, resuming after a resourceVersion from the store's event log. As on a
 * real server: no resourceVersion (or "0") starts with synthetic ADDED events for what exists;
 * a compacted resourceVersion gets an ERROR event with a 410 Expired Status and the stream
 * ends; objects entering or leaving a selector are reported as ADDED or DELETED.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { badRequest, expired } from './errors.js';
import type { KubeObject } from './objects.js';
import { apiVersionOf } from './resource-types.js';
import { makeMatcher, presentObject, type ResourceRequest } from './rest.js';
import type { ObjectStore, StoredEvent } from './store.js';
import { makeTable } from './table.js';

export interface WatchSettings {
  bookmarkIntervalMs: number;
  /** Used when the client gives no timeoutSeconds. */
  defaultTimeoutSeconds: number;
  asTable: boolean;
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** Which event a watcher with `matches` sees for a stored change, if any. */
function visibleType(
  event: StoredEvent,
  matches: (o: KubeObject) => boolean,
): EventType | undefined {
  const now = matches(event.object);
  if (event.type === 'ADDED') return now ? 'ADDED' : undefined;
  const before = event.previous ? matches(event.previous) : now;
  if (event.type === 'DELETED') return before || now ? 'DELETED' : undefined;
  if (before && now) return 'MODIFIED';
  if (now) return 'ADDED';
  return before ? 'DELETED' : undefined;
}

export function serveWatch(
  store: ObjectStore,
  req: ResourceRequest,
  httpReq: IncomingMessage,
  res: ServerResponse,
  settings: WatchSettings,
): void {
  const { rt, query } = req;
  const selectorMatches = makeMatcher(rt, query);
  const matches = (o: KubeObject): boolean =>
    (req.namespace === undefined || o.metadata.namespace === req.namespace) &&
    (req.name === undefined || o.metadata.name === req.name) &&
    selectorMatches(o);
  const rvText = query.get('resourceVersion') ?? '';
  if (rvText !== '' && !/^\d+$/.test(rvText)) {
    throw badRequest(`resourceVersion: Invalid value: "${rvText}": must be a non-negative integer`);
  }
  const sendInitial = query.get('sendInitialEvents') === 'true' || rvText === '' || rvText === '0';
  const backlog = sendInitial ? [] : store.eventsSince(Number(rvText));

  res.writeHead(200, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-cache, private',
    'Transfer-Encoding': 'chunked',
  });
  // Clients wait for the headers before reading events: send them now, not with the first event.
  res.flushHeaders();
  let first = true;
  const write = (type: string, obj: unknown): void => {
    res.write(`${JSON.stringify({ type, object: obj })}\n`);
  };
  const send = (type: EventType, stored: KubeObject): void => {
    const obj = presentObject(rt, stored);
    if (!settings.asTable) return write(type, obj);
    const table = makeTable(
      rt,
      [obj],
      { resourceVersion: obj.metadata.resourceVersion },
      {
        includeObject: query.get('includeObject') ?? 'Metadata',
        withColumns: first,
      },
    );
    first = false;
    write(type, table);
  };
  const bookmark = (annotations?: Record<string, string>): void => {
    const metadata: Record<string, unknown> = { resourceVersion: String(store.currentRevision) };
    if (annotations) metadata.annotations = annotations;
    write('BOOKMARK', { kind: rt.kind, apiVersion: apiVersionOf(rt), metadata });
  };

  if (backlog === 'expired') {
    const status = expired(
      `too old resource version: ${rvText} (${store.compactedRevision})`,
    ).toStatus();
    write('ERROR', status);
    res.end();
    return;
  }
  const bookmarks = query.get('allowWatchBookmarks') === 'true';
  if (sendInitial) {
    for (const obj of store.list(rt.storageKey, req.namespace).filter(matches)) send('ADDED', obj);
    if (bookmarks && query.get('sendInitialEvents') === 'true') {
      bookmark({ 'k8s.io/initial-events-end': 'true' });
    }
  } else {
    for (const event of backlog) {
      if (event.storageKey !== rt.storageKey) continue;
      const type = visibleType(event, matches);
      if (type) send(type, event.object);
    }
  }
  const unsubscribe = store.subscribe((event) => {
    if (event.storageKey !== rt.storageKey) return;
    const type = visibleType(event, matches);
    if (type) send(type, event.object);
  });
  const timers: NodeJS.Timeout[] = [];
  if (bookmarks) timers.push(setInterval(() => bookmark(), settings.bookmarkIntervalMs));
  const timeoutSeconds = Number(query.get('timeoutSeconds') ?? settings.defaultTimeoutSeconds);
  timers.push(setTimeout(() => res.end(), Math.max(0, timeoutSeconds) * 1000));
  const stop = (): void => {
    unsubscribe();
    for (const t of timers) clearTimeout(t);
  };
  res.on('close', stop);
  httpReq.on('close', stop);
}
