/**
 * Shortcuts for the shapes filters are made of: an attribute compared with a literal or
 * matched against a LIKE pattern. When the attribute holds the type the operator wants, the
 * answer needs no cast and raises no error, so it is computed right here, without a call per
 * operand; any other case (missing attribute, cast needed) falls through to the general
 * evaluator, which alone knows the error rules. Evaluation stays the same, only faster.
 */
import type { CesqlNode, CesqlValue } from './ast.js';
import type { Evaluator } from './compile-node.js';
import type { LikeMatcher } from './like.js';

const isInt32 = (v: unknown): v is number => typeof v === 'number' && (v | 0) === v;

/** `attr LIKE 'pattern'` with a String attribute. */
export function fastLike(
  operand: CesqlNode,
  match: LikeMatcher,
  negated: boolean,
  general: Evaluator,
): Evaluator {
  if (operand.kind !== 'attribute') return general;
  const name = operand.name;
  return (a, s) => {
    const v = a[name];
    return typeof v === 'string' ? match(v) !== negated : general(a, s);
  };
}

type Compare = (x: number, y: number) => boolean;
const ORDER: Record<string, Compare> = {
  '<': (x, y) => x < y,
  '<=': (x, y) => x <= y,
  '>': (x, y) => x > y,
  '>=': (x, y) => x >= y,
};

/** `attr = literal`, `attr != literal`, `attr < integer`…, with an attribute of that type. */
export function fastCompare(
  operator: string,
  left: CesqlNode,
  right: CesqlNode,
  general: Evaluator,
): Evaluator {
  if (left.kind !== 'attribute' || right.kind !== 'literal') return general;
  const name = left.name;
  const literal: CesqlValue = right.value;
  if (operator === '=' || operator === '!=' || operator === '<>') {
    const negated = operator !== '=';
    // `=` casts the left operand to the right one's type: no cast when the types agree.
    if (typeof literal === 'number') {
      return (a, s) => {
        const v = a[name];
        return isInt32(v) ? (v === literal) !== negated : general(a, s);
      };
    }
    const type = typeof literal;
    return (a, s) => {
      const v = a[name];
      return typeof v === type ? (v === literal) !== negated : general(a, s);
    };
  }
  const compare = ORDER[operator];
  if (!compare || typeof literal !== 'number') return general;
  return (a, s) => {
    const v = a[name];
    return isInt32(v) ? compare(v, literal) : general(a, s);
  };
}
