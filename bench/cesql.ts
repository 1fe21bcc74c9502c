/**
 * CESQL filter evaluation per event: `npx tsx bench/cesql.ts [--ms 1000] [--rounds 5]`.
 * Prints the median ops/s of each expression's `test()` over the rounds, next to a
 * hand-written JavaScript predicate doing the same work (the ceiling), and the compile time.
 * Figures, not assertions.
 */
import { cpus } from 'node:os';
import { compileFilters } from '../core/filters/index.js';
import { compileCesql, type CesqlAttributes } from '../core/filters/cesql/index.js';

function readFlag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at === -1 ? undefined : Number(process.argv[at + 1]);
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}
const ROUND_MS = readFlag('ms', 1000);
const ROUNDS = readFlag('rounds', 5);

/** A mix of matching and non-matching events, as a subscription sees them. */
const events: CesqlAttributes[] = ['eu-1', 'us-7', 'eu-west-3', 'uk-2'].map((subject, i) => ({
  specversion: '1.0',
  id: `evt-${i}`,
  source: 'https://acme.example/orders',
  type: 'com.example.order.created',
  time: '2026-11-24T10:00:00Z',
  datacontenttype: 'application/json',
  subject,
  myext: i + 1,
}));

/** Keeps results observable so the optimiser cannot drop the work. */
let sink = 0;

function measureOpsPerSecond(run: (a: CesqlAttributes) => boolean): number {
  const batch = 1024;
  const deadline = process.hrtime.bigint() + BigInt(ROUND_MS) * 1_000_000n;
  const start = process.hrtime.bigint();
  let ops = 0;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < batch; i++) if (run(events[i & 3] as CesqlAttributes)) sink++;
    ops += batch;
    now = process.hrtime.bigint();
  }
  return ops / (Number(now - start) / 1e9);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function medianOps(run: (a: CesqlAttributes) => boolean): number {
  measureOpsPerSecond(run); // warm-up
  const runs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) runs.push(measureOpsPerSecond(run));
  return median(runs);
}

const fmt = (ops: number): string => Math.round(ops).toLocaleString('en-US').padStart(14);

interface Case {
  label: string;
  expression: string;
  /** The same predicate written by hand in JavaScript. */
  baseline: (a: CesqlAttributes) => boolean;
}

const str = (v: unknown): v is string => typeof v === 'string';
const cases: Case[] = [
  {
    label: 'LIKE prefix',
    expression: "subject LIKE 'eu-%'",
    baseline: (a) => str(a.subject) && a.subject.startsWith('eu-'),
  },
  {
    label: '4 clauses AND/OR',
    expression:
      "(subject LIKE 'eu-%' OR subject LIKE 'uk-%') AND myext > 2 AND type = 'com.example.order.created'",
    baseline: (a) =>
      str(a.subject) &&
      (a.subject.startsWith('eu-') || a.subject.startsWith('uk-')) &&
      typeof a.myext === 'number' &&
      a.myext > 2 &&
      a.type === 'com.example.order.created',
  },
  {
    label: 'IN set + general LIKE',
    expression: "myext IN (1, 3, 5, 7) AND subject LIKE '%-_'",
    baseline: (a) =>
      typeof a.myext === 'number' &&
      [1, 3, 5, 7].includes(a.myext) &&
      str(a.subject) &&
      /^.*-.$/su.test(a.subject),
  },
  {
    label: 'missing attribute (error path)',
    expression: "region = 'eu' OR subject LIKE 'eu-%'",
    baseline: (a) => str(a.region) && a.region === 'eu',
  },
];

console.log(`$ npx tsx bench/cesql.ts --ms ${ROUND_MS} --rounds ${ROUNDS}`);
console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}`);
console.log(
  `${'case'.padEnd(32)} ${'CESQL ops/s'.padStart(14)} ${'ns/event'.padStart(9)} ` +
    `${'JS ops/s'.padStart(14)} ${'ratio'.padStart(6)} ${'compile'.padStart(9)}`,
);
for (const c of cases) {
  const compileStart = process.hrtime.bigint();
  const compileRuns = 1000;
  for (let i = 0; i < compileRuns; i++) compileCesql(c.expression);
  const compileUs = Number(process.hrtime.bigint() - compileStart) / 1e3 / compileRuns;
  const expr = compileCesql(c.expression);
  const cesql = medianOps((a) => expr.test(a));
  const js = medianOps(c.baseline);
  console.log(
    `${c.label.padEnd(32)} ${fmt(cesql)} ${(1e9 / cesql).toFixed(0).padStart(9)} ` +
      `${fmt(js)} ${(cesql / js).toFixed(2).padStart(6)} ${compileUs.toFixed(1).padStart(7)} µs`,
  );
}
// The same prefix through the Subscriptions API `prefix` dialect, for comparison.
const prefix = compileFilters([{ prefix: { subject: 'eu-' } }]);
console.log(`${'prefix dialect (not CESQL)'.padEnd(32)} ${fmt(medianOps(prefix))}`);
if (sink < 0) console.log(sink);
