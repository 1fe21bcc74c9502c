/**
 * The JSONPath of CRD `additionalPrinterColumns`: dotted fields, `['key']`, `[n]`, `[*]` and
 * filters like `[?(@.type=="Ready")]`. Returns every match; printer columns use the first.
 */
import { isMap } from './objects.js';

type Step =
  | { kind: 'field'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'wildcard' }
  | { kind: 'filter'; path: string[]; op: '==' | '!='; value: unknown };

const STEP =
  /^(?:\.([A-Za-z0-9_$-]+)|\[\s*'([^']*)'\s*\]|\[\s*"([^"]*)"\s*\]|\[\s*(-?\d+)\s*\]|\[\s*\*\s*\]|\.\*|\[\?\(\s*@((?:\.[A-Za-z0-9_$-]+)+)\s*(==|!=)\s*("[^"]*"|'[^']*'|-?\d+(?:\.\d+)?|true|false)\s*\)\])/;

const parsed = new Map<string, Step[]>();

export function parseJsonPath(expression: string): Step[] {
  const cached = parsed.get(expression);
  if (cached) return cached;
  let rest = expression
    .trim()
    .replace(/^\{(.*)\}$/, '$1')
    .replace(/^\$/, '');
  const steps: Step[] = [];
  while (rest.length > 0) {
    const m = STEP.exec(rest);
    if (!m) throw new Error(`unsupported JSONPath ${JSON.stringify(expression)} at ${rest}`);
    rest = rest.slice(m[0].length);
    if (m[1] !== undefined) steps.push({ kind: 'field', name: m[1] });
    else if (m[2] !== undefined || m[3] !== undefined) {
      steps.push({ kind: 'field', name: m[2] ?? m[3] ?? '' });
    } else if (m[4] !== undefined) steps.push({ kind: 'index', index: Number(m[4]) });
    else if (m[5] !== undefined) {
      const literal = m[7] ?? '';
      const value = /^['"]/.test(literal) ? literal.slice(1, -1) : JSON.parse(literal);
      steps.push({
        kind: 'filter',
        path: m[5].slice(1).split('.'),
        op: m[6] === '!=' ? '!=' : '==',
        value,
      });
    } else steps.push({ kind: 'wildcard' });
  }
  parsed.set(expression, steps);
  return steps;
}

function children(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (isMap(value)) return Object.values(value);
  return [];
}

export function evaluateJsonPath(expression: string, root: unknown): unknown[] {
  let current: unknown[] = [root];
  for (const step of parseJsonPath(expression)) {
    const next: unknown[] = [];
    for (const value of current) {
      switch (step.kind) {
        case 'field':
          if (isMap(value) && value[step.name] !== undefined) next.push(value[step.name]);
          break;
        case 'index':
          if (Array.isArray(value)) {
            const item = value.at(step.index);
            if (item !== undefined) next.push(item);
          }
          break;
        case 'wildcard':
          next.push(...children(value));
          break;
        case 'filter':
          for (const item of children(value)) {
            let field: unknown = item;
            for (const key of step.path) field = isMap(field) ? field[key] : undefined;
            if (field !== undefined && (field === step.value) === (step.op === '=='))
              next.push(item);
          }
          break;
      }
    }
    current = next;
  }
  return current;
}
