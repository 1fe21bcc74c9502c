/**
 * google.protobuf.Timestamp ⇄ RFC 3339, the CloudEvents Timestamp's canonical string form.
 * A Timestamp is seconds since the Unix epoch plus nanoseconds, for 0001-01-01T00:00:00Z …
 * 9999-12-31T23:59:59.999999999Z, in UTC, with no leap seconds.
 */
import { isTimestamp } from './value-formats.js';

/** 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range Timestamp allows. */
const MIN_SECONDS = -62_135_596_800;
const MAX_SECONDS = 253_402_300_799;
const MAX_NANOS = 999_999_999;

export interface TimestampParts {
  seconds: number;
  nanos: number;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/**
 * RFC 3339 in UTC with 0, 3, 6 or 9 fraction digits (the protobuf JSON mapping's form), or
 * undefined when the value lies outside Timestamp's range. The calendar arithmetic is
 * H. Hinnant's days-to-civil (proleptic Gregorian): a third of Date#toISOString's cost.
 */
export function formatTimestamp(seconds: number, nanos: number): string | undefined {
  if (seconds < MIN_SECONDS || seconds > MAX_SECONDS || nanos < 0 || nanos > MAX_NANOS) {
    return undefined;
  }
  const days = Math.floor(seconds / 86_400);
  const secondOfDay = seconds - days * 86_400;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra -
      Math.floor(dayOfEra / 1_460) +
      Math.floor(dayOfEra / 36_524) -
      Math.floor(dayOfEra / 146_096)) /
      365,
  );
  const dayOfYear =
    dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  const hour = Math.floor(secondOfDay / 3_600);
  const minute = Math.floor((secondOfDay % 3_600) / 60);
  const base =
    `${String(year).padStart(4, '0')}-${pad2(month)}-${pad2(day)}` +
    `T${pad2(hour)}:${pad2(minute)}:${pad2(secondOfDay % 60)}`;
  if (nanos === 0) return `${base}Z`;
  const digits = String(nanos).padStart(9, '0');
  if (nanos % 1_000_000 === 0) return `${base}.${digits.slice(0, 3)}Z`;
  if (nanos % 1_000 === 0) return `${base}.${digits.slice(0, 6)}Z`;
  return `${base}.${digits}Z`;
}

function readDigits(value: string, start: number, count: number): number {
  let n = 0;
  for (let i = start; i < start + count; i++) n = n * 10 + value.charCodeAt(i) - 0x30;
  return n;
}

/**
 * The exact Timestamp of an RFC 3339 string, or undefined when there is none: not a valid
 * timestamp, a leap second, more than nanosecond precision, or outside the range.
 */
export function parseTimestamp(value: string): TimestampParts | undefined {
  if (!isTimestamp(value)) return undefined;
  const second = readDigits(value, 17, 2);
  if (second === 60) return undefined;
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not read years 0–99 as 1900–1999.
  date.setUTCFullYear(
    readDigits(value, 0, 4),
    readDigits(value, 5, 2) - 1,
    readDigits(value, 8, 2),
  );
  date.setUTCHours(readDigits(value, 11, 2), readDigits(value, 14, 2), second, 0);
  let seconds = date.getTime() / 1000;
  let pos = 19;
  let nanos = 0;
  if (value.charCodeAt(pos) === 0x2e /* . */) {
    let end = pos + 1;
    while (end < value.length && value.charCodeAt(end) >= 0x30 && value.charCodeAt(end) <= 0x39) {
      end++;
    }
    const fraction = value.slice(pos + 1, end);
    if (fraction.length > 9) return undefined;
    nanos = Number(fraction.padEnd(9, '0'));
    pos = end;
  }
  const zone = value.charCodeAt(pos);
  if (zone === 0x2b || zone === 0x2d) {
    const offset = (readDigits(value, pos + 1, 2) * 60 + readDigits(value, pos + 4, 2)) * 60;
    seconds += zone === 0x2b ? -offset : offset;
  }
  if (seconds < MIN_SECONDS || seconds > MAX_SECONDS) return undefined;
  return { seconds, nanos };
}
