/**
 * The per-evaluation error list. Operators note errors through raise(); an expression
 * evaluated as a filter only counts them (`list` undefined), so a missing attribute on a busy
 * subscription costs an increment, not an object and a message.
 */
import type { CesqlType, CesqlValue } from './ast.js';
import { describeCastFailure } from './cast.js';
import { CesqlErrorKind, type CesqlEvaluationError } from './errors.js';

export interface EvalState {
  /** Errors raised so far; operators compare it before and after evaluating operands. */
  errors: number;
  list: CesqlEvaluationError[] | undefined;
}

export function raise(
  s: EvalState,
  kind: CesqlEvaluationError['kind'],
  position: number,
  message: string,
): void {
  s.errors++;
  s.list?.push({ kind, message, position });
}

export function raiseCast(
  s: EvalState,
  position: number,
  value: CesqlValue,
  type: CesqlType,
): void {
  s.errors++;
  s.list?.push({ kind: CesqlErrorKind.Cast, message: describeCastFailure(value, type), position });
}
