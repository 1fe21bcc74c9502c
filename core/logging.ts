/**
 * pino loggers for every deployable: JSON lines, one child per component, errors as `{ err }`.
 * Known secret-bearing fields are redacted as a second line of defence; the first is never
 * passing secrets or payloads to a logger at all.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Write to this stream instead of stdout (tests). */
  destination?: NodeJS.WritableStream;
}

export const REDACTED_PATHS = [
  'authorization',
  'apiKey',
  'secret',
  'password',
  'token',
  '*.authorization',
  '*.apiKey',
  '*.secret',
  '*.password',
  '*.token',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
];

export function createLogger(name: string, options: LoggerOptions = {}): Logger {
  return pino(
    {
      name,
      level: options.level ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      base: { component: name },
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}

/** A logger that drops everything, for tests that do not read logs. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
