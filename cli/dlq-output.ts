/**
 * How `herald dlq list` (and `purge` without --yes) shows dead letters: a table without
 * payloads, or one JSON object per line with everything.
 */
import { DeadLetterAttribute } from '../dispatcher/dead-letter.js';
import {
  withoutErrorAttributes,
  type DeadLetterPage,
  type DeadLetterQuery,
  type StoredDeadLetter,
} from './dlq-read.js';

/** `shop/orders from source S since T`: the selection, for messages. */
export function describeSelection(q: DeadLetterQuery): string {
  return (
    `${q.namespace}/${q.name}` +
    (q.source !== undefined ? ` from source ${q.source}` : '') +
    (q.since ? ` since ${q.since.toISOString()}` : '')
  );
}

/** The page as a table or JSON lines; stderr says so when nothing matched (without --id). */
export function printDeadLetters(
  q: DeadLetterQuery & { json: boolean },
  page: DeadLetterPage,
  out: (text: string) => void,
  err: (text: string) => void,
): void {
  if (q.json) {
    for (const letter of page.letters) out(JSON.stringify(toJsonLine(q, letter)));
  } else if (page.letters.length > 0) {
    out(formatTable(page.letters.map(toRow)));
  } else if (!q.ids?.length) {
    // With --id, each id that matched nothing gets its own line instead.
    err(`no dead letters for ${describeSelection(q)}`);
  }
}

export function reportCut(shown: number, matching: number, err: (text: string) => void): void {
  if (matching > shown) {
    err(`(${shown} of ${matching} dead letters; raise --limit or move --since for the rest)`);
  }
}

const COLUMNS = [
  'SEQ',
  'TIME',
  'EVENT ID',
  'TYPE',
  'SOURCE',
  'CODE',
  'ATTEMPTS',
  'STATUS',
  'REASON',
];

function toRow(letter: StoredDeadLetter): string[] {
  const j = letter.json;
  if (!j) return [String(letter.seq), letter.time, '(not JSON)', '', '', '', '', '', ''];
  const text = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
  return [
    String(letter.seq),
    letter.time,
    text(j.id),
    text(j.type),
    text(j.source),
    text(j[DeadLetterAttribute.Code]),
    text(j[DeadLetterAttribute.Attempts]),
    text(j[DeadLetterAttribute.Status]),
    text(j[DeadLetterAttribute.Reason]),
  ];
}

function formatTable(rows: string[][]): string {
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(COLUMNS), ...rows.map(line)].join('\n');
}

function toJsonLine(q: DeadLetterQuery, letter: StoredDeadLetter): Record<string, unknown> {
  const j = letter.json;
  return {
    seq: letter.seq,
    time: letter.time,
    subscription: `${q.namespace}/${q.name}`,
    code: j?.[DeadLetterAttribute.Code],
    reason: j?.[DeadLetterAttribute.Reason],
    attempts: j?.[DeadLetterAttribute.Attempts],
    status: j?.[DeadLetterAttribute.Status],
    responseExcerpt: j?.[DeadLetterAttribute.Body],
    ...letter.headers,
    event: j ? withoutErrorAttributes(j) : null,
    ...(j ? {} : { raw: new TextDecoder().decode(letter.data) }),
  };
}
