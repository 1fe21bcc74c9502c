/**
 * Parsing a command's flags (flag-table.ts: each with its env var and default) from argv and
 * env, reading typed values from them, and a command's help. Only the CLI reads flags and env;
 * deployables get typed options.
 */
import { parseArgs } from 'node:util';
import { ErrorCode, HeraldError, isHeraldError } from '../core/errors.js';
import { FLAGS, type FlagName, type FlagSpec } from './flag-table.js';

// Where the commands and the tests have always found them.
export { FLAGS, type FlagName, type FlagSpec } from './flag-table.js';

export interface CommandSpec {
  summary: string;
  flags: readonly FlagName[];
  /** Per-command defaults that differ from the table (e.g. `run` allows private sinks). */
  defaults?: Partial<Record<FlagName, string | boolean>>;
  /** Positional arguments it takes, for usage lines (e.g. `list|redrive`); none when absent. */
  positionals?: string;
}

/** The flags given `multiple: true`, whose value is a list. */
type ListFlagName = {
  [K in FlagName]: (typeof FLAGS)[K] extends { multiple: true } ? K : never;
}[FlagName];

/** A `multiple` flag's value is every one given, in order (absent when not given). */
export type FlagValues = Partial<
  Record<Exclude<FlagName, ListFlagName>, string | boolean> & Record<ListFlagName, string[]>
>;

const TRUE_WORDS = new Set(['1', 'true', 'yes', 'on']);
const FALSE_WORDS = new Set(['0', 'false', 'no', 'off']);

/** Parses argv for one command: flag, else env var, else the command's or table's default. */
export function parseCommandFlags(
  command: CommandSpec,
  argv: string[],
  env: NodeJS.ProcessEnv,
): FlagValues {
  return parseCommandArgs(command, argv, env).values;
}

const usageError = (message: string): HeraldError => new HeraldError(ErrorCode.Usage, message);

/** The switch `--name[=value]` sets: on without a value, else the value's true/false word. */
function readSwitchArg(name: string, value: string | undefined): boolean {
  if (value === undefined || TRUE_WORDS.has(value.toLowerCase())) return true;
  if (FALSE_WORDS.has(value.toLowerCase())) return false;
  throw usageError(
    `--${name} is on or off: give --${name} or --no-${name}, not --${name}=${value}`,
  );
}

/**
 * Takes the on/off (boolean) flags out of argv, the last one given winning: `--x` (on),
 * `--no-x` (off) and `--x=true|false`. Node 20's parseArgs has no negation (`allowNegative`
 * came in 22.4) and refuses `--x=false`, so a flag that defaults to on could not be turned off.
 * Everything else, and everything after `--`, is left for parseArgs.
 */
function takeSwitches(
  command: CommandSpec,
  argv: string[],
): { rest: string[]; switches: Map<FlagName, boolean> } {
  const flags = new Set<string>([...command.flags, 'help']);
  const isFlag = (name: string): name is FlagName => flags.has(name);
  const rest: string[] = [];
  const switches = new Map<FlagName, boolean>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const [, name = '', value] = /^--([^=]+)(?:=(.*))?$/s.exec(arg) ?? [];
    if (isFlag(name) && FLAGS[name].type === 'boolean') {
      switches.set(name, readSwitchArg(name, value));
      continue;
    }
    rest.push(arg);
    if (isFlag(name)) {
      // `--nats URL`: the next argument is the value, even one that starts with --no-.
      if (value === undefined && i + 1 < argv.length) rest.push(argv[++i] as string);
      continue;
    }
    const negated = name.startsWith('no-') ? name.slice(3) : undefined;
    if (negated === undefined) continue; // parseArgs refuses an unknown flag
    if (!isFlag(negated)) {
      throw usageError(`Unknown option '--${name}': there is no --${negated} here to turn off`);
    }
    const spec: FlagSpec = FLAGS[negated];
    if (spec.type === 'string') {
      const hint = spec.default === 'true' ? `; turn it off with --${negated}=false` : '';
      throw usageError(`--${negated} takes a value, so there is no --no-${negated}${hint}`);
    }
    if (value !== undefined) throw usageError(`--no-${negated} does not take a value`);
    rest.pop();
    switches.set(negated, false);
  }
  return { rest, switches };
}

/** parseCommandFlags plus the positional arguments (refused unless the command takes some). */
export function parseCommandArgs(
  command: CommandSpec,
  argv: string[],
  env: NodeJS.ProcessEnv,
): { values: FlagValues; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const name of command.flags) {
    const spec: FlagSpec = FLAGS[name];
    options[name] = { type: spec.type, ...(spec.multiple && { multiple: true }) };
  }
  options.help = { type: 'boolean' };
  let parsed;
  let switches: Map<FlagName, boolean>;
  try {
    let rest: string[];
    ({ rest, switches } = takeSwitches(command, argv));
    parsed = parseArgs({
      args: rest,
      options,
      strict: true,
      allowPositionals: command.positionals !== undefined,
    });
  } catch (cause) {
    if (isHeraldError(cause)) throw cause;
    throw new HeraldError(ErrorCode.Usage, (cause as Error).message, { cause });
  }
  const values: Partial<Record<FlagName, string | boolean | string[]>> = {};
  for (const name of [...command.flags, 'help' as const]) {
    const spec: FlagSpec = FLAGS[name];
    // A list only for a `multiple` flag, whose parseArgs type is string.
    const given = switches.get(name) ?? (parsed.values[name] as string | boolean | string[]);
    const fromEnv = spec.env ? env[spec.env] : undefined;
    if (given !== undefined) values[name] = given;
    else if (fromEnv !== undefined && fromEnv !== '') {
      values[name] = spec.type === 'boolean' ? TRUE_WORDS.has(fromEnv.toLowerCase()) : fromEnv;
    } else {
      const fallback = command.defaults?.[name] ?? spec.default;
      if (fallback !== undefined) values[name] = fallback;
    }
  }
  return { values: values as FlagValues, positionals: parsed.positionals };
}

export function readPort(values: FlagValues, name: FlagName): number {
  const text = String(values[name]);
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new HeraldError(
      ErrorCode.Usage,
      `--${name} must be a port number (0-65535), got "${text}"`,
    );
  }
  return port;
}

/** A whole number from `min` to `max`, e.g. `--system-replicas 3`. */
export function readIntegerInRange(
  values: FlagValues,
  name: FlagName,
  min: number,
  max: number,
): number {
  const text = String(values[name]).trim();
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    const env: string | undefined = (FLAGS[name] as FlagSpec).env;
    throw new HeraldError(
      ErrorCode.Usage,
      `--${name}${env ? ` (${env})` : ''} must be a whole number from ${min} to ${max}, got "${String(values[name])}"`,
    );
  }
  return n;
}

/** An on/off flag that defaults to on, so it takes a value: `--attempts-log=false`. */
export function readSwitch(values: FlagValues, name: FlagName): boolean {
  const value = values[name];
  if (typeof value === 'boolean') return value;
  const text = String(value ?? '')
    .trim()
    .toLowerCase();
  if (TRUE_WORDS.has(text)) return true;
  if (FALSE_WORDS.has(text)) return false;
  throw new HeraldError(
    ErrorCode.Usage,
    `--${name} must be true or false (or on/off, yes/no, 1/0), got "${String(value)}"`,
  );
}

const BYTE_SIZE = /^(\d+)(Ki|Mi)?$/;
const BYTE_UNITS = { Ki: 1024, Mi: 1024 * 1024 } as const;

/** A positive byte count: `1048576`, `512Ki`, `1Mi`. */
export function readByteSize(values: FlagValues, name: FlagName): number {
  const text = String(values[name]);
  const match = BYTE_SIZE.exec(text.trim());
  const bytes = match
    ? Number(match[1]) * (match[2] ? BYTE_UNITS[match[2] as keyof typeof BYTE_UNITS] : 1)
    : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new HeraldError(
      ErrorCode.Usage,
      `--${name} must be a byte count like 1048576, 512Ki or 1Mi, got "${text}"`,
    );
  }
  return bytes;
}

/** A comma-separated list flag (`10.0.0.0/8, fd00::/8`): trimmed entries, empty ones dropped. */
export function readList(values: FlagValues, name: FlagName): string[] {
  const text = values[name];
  if (typeof text !== 'string') return [];
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
}

export function formatCommandHelp(name: string, command: CommandSpec): string {
  const usage = `Usage: herald ${name}${command.positionals ? ` ${command.positionals}` : ''} [flags]`;
  const lines = [usage, '', command.summary, '', 'Flags:'];
  for (const flag of [...command.flags, 'help' as const]) {
    const spec: FlagSpec = FLAGS[flag];
    const def = command.defaults?.[flag] ?? spec.default;
    const meta = [
      spec.env ? `env ${spec.env}` : '',
      def !== undefined ? `default ${String(def)}` : '',
      // On by default: say how to turn it off.
      spec.type === 'boolean' && def === true ? `--no-${flag} turns it off` : '',
      spec.multiple ? 'repeatable' : '',
    ]
      .filter(Boolean)
      .join(', ');
    const left = `  --${flag}${spec.type === 'string' ? ' VALUE' : ''}`;
    // A name longer than the column (--attempts-max-per-subject) still gets a space.
    lines.push(`${left.padEnd(29)} ${spec.help}${meta ? ` (${meta})` : ''}`);
  }
  return lines.join('\n');
}
