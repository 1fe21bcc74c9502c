/** IN and NOT IN (spec §3.4.5): the set's elements are cast to the left operand's type. */
import { CesqlType, type CesqlValue, type InNode } from './ast.js';
import { castTo, typeOfValue } from './cast.js';
import type { Evaluator } from './compile-node.js';
import { raiseCast } from './state.js';

interface CastSet {
  values: ReadonlySet<CesqlValue>;
  /** An element that does not cast to this type: every lookup raises a CastError. */
  failing?: CesqlValue;
}

/**
 * IN casts the set's elements to the left operand's type (§3.7). A set of literals (the
 * usual case) is cast once per possible type here, so a lookup is one Set.has.
 */
export function compileIn(
  node: InNode,
  operand: Evaluator,
  elements: readonly Evaluator[],
): Evaluator {
  const negated = node.negated;
  const position = node.position;
  const literals = node.set.every((n) => n.kind === 'literal')
    ? node.set.map((n) => (n.kind === 'literal' ? n.value : ''))
    : undefined;
  if (literals) {
    const byType = new Map<CesqlType, CastSet>();
    for (const type of Object.values(CesqlType)) {
      const values = new Set<CesqlValue>();
      let failing: CesqlValue | undefined;
      for (const v of literals) {
        const cast = castTo(type, v);
        if (cast === undefined) failing ??= v;
        else values.add(cast);
      }
      byType.set(type, failing === undefined ? { values } : { values, failing });
    }
    const general: Evaluator = (a, s) => {
      const mark = s.errors;
      const v = operand(a, s);
      if (s.errors !== mark) return false;
      const type = typeOfValue(v);
      const set = byType.get(type) as CastSet;
      if (set.failing !== undefined) {
        raiseCast(s, position, set.failing, type);
        return false;
      }
      return set.values.has(v) !== negated;
    };
    // `attr IN ('a', 'b')`: read a String attribute directly when no element fails its cast.
    const strings = byType.get(CesqlType.String) as CastSet;
    if (node.operand.kind !== 'attribute' || strings.failing !== undefined) return general;
    const name = node.operand.name;
    return (a, s) => {
      const v = a[name];
      return typeof v === 'string' ? strings.values.has(v) !== negated : general(a, s);
    };
  }
  return (a, s) => {
    const mark = s.errors;
    const v = operand(a, s);
    if (s.errors !== mark) return false;
    const type = typeOfValue(v);
    let found = false;
    for (const element of elements) {
      const e = element(a, s);
      if (s.errors !== mark) return false;
      const cast = castTo(type, e);
      if (cast === undefined) {
        raiseCast(s, position, e, type);
        return false;
      }
      if (cast === v) found = true;
    }
    return found !== negated;
  };
}
