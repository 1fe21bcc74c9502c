/**
 * `herald dlq list|redrive|purge --nats URL --subscription NS/NAME [--since TIME] [--id ID]…
 * [--source SOURCE] [--limit N] [--json] [--yes]` (docs/delivery.md "Dead letters"). `list`
 * prints a subscription's dead letters from HERALD_DLQ; `redrive` queues the same selection on
 * HERALD_REDRIVE, where the dispatchers deliver each original event to the subscription's
 * current sink; `purge --yes` deletes it from HERALD_DLQ (without --yes it shows what would go).
 * All three select the same dead letters for the same flags, so `list` shows exactly what
 * `redrive` would send and `purge` would delete.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { NatsAuth } from '../core/nats-connect-options.js';
import { DLQ_STREAM, dlqSubjectFor } from '../core/topology.js';
import { describeSelection, printDeadLetters, reportCut } from './dlq-output.js';
import { deleteDeadLetters } from './dlq-purge.js';
import { readDeadLetters, type DeadLetterPage, type DeadLetterQuery } from './dlq-read.js';
import { checkSubscription, queueRedrives, readRedriveWindow } from './dlq-redrive.js';
import type { FlagValues } from './flags.js';
import {
  connectForCommand,
  parseSince,
  readLimit,
  readNatsUrl,
  readSubscriptionId,
  UsageError,
} from './inspect-args.js';

export interface DlqCommandOptions {
  values: FlagValues;
  /** NATS credentials and TLS files; none = connect with the URL alone. */
  natsAuth?: NatsAuth;
  positionals: string[];
  /** The command's help text, printed after a usage error. */
  usage: string;
  /** Where output goes (tests capture it); default the process's stdout and stderr. */
  out?: (text: string) => void;
  err?: (text: string) => void;
  now?: () => number;
}

const DlqAction = { List: 'list', Redrive: 'redrive', Purge: 'purge' } as const;
type DlqAction = (typeof DlqAction)[keyof typeof DlqAction];

interface DlqQuery extends DeadLetterQuery {
  action: DlqAction;
  natsUrl: string;
  json: boolean;
  /** purge: delete (else only show what would be deleted). */
  yes: boolean;
}

/** Exit statuses (docs/delivery.md "Dead letters"). */
const Exit = {
  Done: 0,
  Failed: 1,
  /** A usage error, or a command line that must say more (purge without --yes): nothing done. */
  Usage: 2,
  /** Done, but an --id matched no dead letter. */
  IdNotFound: 3,
} as const;

/** Runs `herald dlq …` to completion; returns its exit status (Exit). */
export async function runDlqCommand(options: DlqCommandOptions): Promise<number> {
  const out = options.out ?? ((text: string) => void process.stdout.write(`${text}\n`));
  const err = options.err ?? ((text: string) => void process.stderr.write(`${text}\n`));
  let query: DlqQuery;
  try {
    query = parseDlqArgs(options.values, options.positionals, options.now?.() ?? Date.now());
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`herald dlq: ${e.message}\n\n${options.usage}`);
    return Exit.Usage;
  }
  const nc = await connectForCommand('dlq', query.natsUrl, options.natsAuth, err);
  if (!nc) return Exit.Failed;
  try {
    switch (query.action) {
      case DlqAction.List:
        return await listDeadLetters(nc, query, out, err);
      case DlqAction.Redrive:
        return await redrive(nc, query, out, err);
      case DlqAction.Purge:
        return await purge(nc, query, out, err);
    }
  } catch (e) {
    err(`herald dlq ${query.action}: ${(e as Error).message}`);
    return Exit.Failed;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

function parseDlqArgs(values: FlagValues, positionals: string[], nowMs: number): DlqQuery {
  const [action, ...extra] = positionals;
  const actions: readonly string[] = Object.values(DlqAction);
  if (action === undefined || !actions.includes(action)) {
    throw new UsageError(
      action === undefined
        ? 'say what to do: list, redrive or purge'
        : `unknown subcommand "${action}": use list, redrive or purge`,
    );
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const natsUrl = readNatsUrl(values);
  const { namespace, name } = readSubscriptionId(values);
  const query: DlqQuery = {
    action: action as DlqAction,
    natsUrl,
    namespace,
    name,
    limit: readLimit(values),
    json: values.json === true,
    yes: values.yes === true,
  };
  if (query.yes && query.action !== DlqAction.Purge) {
    throw new UsageError('--yes goes with purge only');
  }
  if (typeof values.since === 'string') query.since = parseSince(values.since, nowMs);
  // Each --id is one id as given: CloudEvents ids may hold commas and spaces.
  const ids = values.id ?? [];
  if (ids.some((id) => id === '')) throw new UsageError('--id needs an event id, got ""');
  if (ids.length > 0) query.ids = [...new Set(ids)];
  if (typeof values.source === 'string') {
    if (values.source === '') throw new UsageError('--source needs a CloudEvents source, got ""');
    query.source = values.source;
  }
  return query;
}

/**
 * Reports on stderr each --id that matched no dead letter and each that matched events of
 * more than one source (ids are unique per source only). `refuseAmbiguous`: an ambiguous id
 * stops a redrive or purge before it does anything.
 */
function checkIds(
  q: DlqQuery,
  page: DeadLetterPage,
  err: (text: string) => void,
  refuseAmbiguous: boolean,
): { missing: string[]; ambiguous: boolean } {
  const missing: string[] = [];
  let ambiguous = false;
  for (const id of q.ids ?? []) {
    const sources = page.sourcesById.get(id);
    if (!sources) {
      missing.push(id);
      // `--id a,b` is one id: say how to give two.
      const hint = id.includes(',') ? ' (each --id is one whole id: repeat --id for more)' : '';
      err(`no dead letter of event id ${JSON.stringify(id)} for ${describeSelection(q)}${hint}`);
    } else if (sources.size > 1 && q.source === undefined) {
      ambiguous = true;
      const list = [...sources].map((s) => JSON.stringify(s)).join(', ');
      err(
        `event id ${JSON.stringify(id)} is in dead letters of ${sources.size} events (sources ${list}): ` +
          (refuseAmbiguous
            ? `nothing was done; add --source to choose one`
            : `add --source to choose one`),
      );
    }
  }
  return { missing, ambiguous: refuseAmbiguous && ambiguous };
}

async function listDeadLetters(
  nc: NatsConnection,
  q: DlqQuery,
  out: (text: string) => void,
  err: (text: string) => void,
): Promise<number> {
  const page = await readDeadLetters(jetstream(nc), await jetstreamManager(nc), q);
  printDeadLetters(q, page, out, err);
  const { missing } = checkIds(q, page, err, false);
  reportCut(page.letters.length, page.matching, err);
  return missing.length > 0 ? Exit.IdNotFound : Exit.Done;
}

async function purge(
  nc: NatsConnection,
  q: DlqQuery,
  out: (text: string) => void,
  err: (text: string) => void,
): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const page = await readDeadLetters(jetstream(nc), jsm, q);
  const { missing, ambiguous } = checkIds(q, page, err, true);
  if (ambiguous) return Exit.Usage;
  const n = page.letters.length;
  const letters = `${n} dead letter${n === 1 ? '' : 's'} of ${q.namespace}/${q.name}`;
  if (!q.yes) {
    // What would go, as `list` shows it; then say how to delete it.
    printDeadLetters(q, page, out, err);
    reportCut(n, page.matching, err);
    if (n > 0) {
      err(`herald dlq purge: nothing deleted: add --yes to delete these ${letters}`);
      return Exit.Usage;
    }
    return missing.length > 0 ? Exit.IdNotFound : Exit.Done;
  }
  const oldestOfSubject = !q.since && !q.ids?.length && q.source === undefined;
  const result = await deleteDeadLetters(
    jsm,
    dlqSubjectFor(q.namespace, q.name),
    page.letters,
    oldestOfSubject,
  );
  if (q.json) {
    out(
      JSON.stringify({
        subscription: `${q.namespace}/${q.name}`,
        deleted: result.deleted,
        gone: result.gone,
        matching: page.matching,
        ...(q.ids && { missingIds: missing }),
      }),
    );
  } else {
    out(
      `deleted ${result.deleted} dead letter${result.deleted === 1 ? '' : 's'} of ${q.namespace}/${q.name} from ${DLQ_STREAM}`,
    );
    if (result.gone > 0) {
      out(
        `${result.gone} selected ${result.gone === 1 ? 'was' : 'were'} already gone (aged out or deleted meanwhile)`,
      );
    }
  }
  reportCut(n, page.matching, err);
  if (result.failure) {
    err(
      `herald dlq purge: deleting stopped: ${result.failure.message}; ` +
        `${n - result.deleted - result.gone} of the ${letters} are still stored: run it again`,
    );
    return Exit.Failed;
  }
  return missing.length > 0 ? Exit.IdNotFound : Exit.Done;
}

async function redrive(
  nc: NatsConnection,
  q: DlqQuery,
  out: (text: string) => void,
  err: (text: string) => void,
): Promise<number> {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const windowText = await readRedriveWindow(jsm);
  await checkSubscription(js, q);
  const page = await readDeadLetters(js, jsm, q);
  const { missing, ambiguous } = checkIds(q, page, err, true);
  if (ambiguous) return Exit.Usage;
  const { queued, duplicates, skipped, failure } = await queueRedrives(js, q, page.letters);
  if (q.json) {
    out(
      JSON.stringify({
        subscription: `${q.namespace}/${q.name}`,
        queued,
        duplicates,
        skipped,
        matching: page.matching,
        ...(q.ids && { missingIds: missing }),
      }),
    );
  } else {
    out(
      `queued ${queued} dead letter${queued === 1 ? '' : 's'} of ${q.namespace}/${q.name} for redelivery`,
    );
    if (duplicates > 0) {
      out(
        `${duplicates} already queued by a redrive within the last ${windowText}: not queued again`,
      );
    }
  }
  if (skipped.length > 0)
    err(`skipped dead letters that are not CloudEvents: seq ${skipped.join(', ')}`);
  reportCut(page.letters.length, page.matching, err);
  if (failure) {
    // A full HERALD_REDRIVE refuses new messages (discard new): say how far it got.
    err(
      `herald dlq redrive: queueing stopped: ${failure.message}; ` +
        `run it again to queue the rest (what is queued is recognised for ${windowText})`,
    );
    return Exit.Failed;
  }
  return missing.length > 0 ? Exit.IdNotFound : Exit.Done;
}
