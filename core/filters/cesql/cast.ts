/**
 * CESQL type casting (spec §3.7). Each cast returns `undefined` when it fails; the caller
 * raises the CastError with the zero value, so no error object is built on the happy path.
 */
import { CesqlType, INT32_MAX, INT32_MIN, type CesqlValue } from './ast.js';

const INTEGER_TEXT = /^[+-]?[0-9]+$/;

export function typeOfValue(value: CesqlValue): CesqlType {
  return typeof value === 'string'
    ? CesqlType.String
    : typeof value === 'number'
      ? CesqlType.Integer
      : CesqlType.Boolean;
}

/** String: base 10 with an optional sign, within 32 bits. Boolean: 1 or 0. */
export function castToInteger(value: CesqlValue): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (!INTEGER_TEXT.test(value)) return undefined;
  const n = Number(value);
  return n > INT32_MAX || n < INT32_MIN ? undefined : n | 0;
}

/** String: "true" or "false" in any case. Integer: 0 is false, anything else true. */
export function castToBoolean(value: CesqlValue): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (value.length === 4 || value.length === 5) {
    const lower = value.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
  }
  return undefined;
}

/** Never fails: integers in base 10, booleans as "true"/"false". */
export function castToString(value: CesqlValue): string {
  return typeof value === 'string' ? value : String(value);
}

export function castTo(type: CesqlType, value: CesqlValue): CesqlValue | undefined {
  switch (type) {
    case CesqlType.Integer:
      return castToInteger(value);
    case CesqlType.Boolean:
      return castToBoolean(value);
    case CesqlType.String:
      return castToString(value);
  }
}

export function zeroValueOf(type: CesqlType): CesqlValue {
  switch (type) {
    case CesqlType.Integer:
      return 0;
    case CesqlType.Boolean:
      return false;
    case CesqlType.String:
      return '';
  }
}

/** For messages: a value as CESQL would write it. */
export function showValue(value: CesqlValue): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value).toUpperCase();
}

export function describeCastFailure(value: CesqlValue, type: CesqlType): string {
  return `cannot cast ${typeOfValue(value)} ${showValue(value)} to ${type}`;
}
