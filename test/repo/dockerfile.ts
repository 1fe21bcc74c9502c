/**
 * Just enough of the Dockerfile and .dockerignore formats to check the repository's image
 * recipe without a container runtime (test/repo/image.test.ts). Anything this does not know
 * throws, so a recipe that outgrows it fails loudly instead of being checked wrongly.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Instruction {
  /** Upper-cased: FROM, RUN, COPY… */
  keyword: string;
  /** The rest of the instruction, continuation lines joined. */
  args: string;
  line: number;
}

export interface Stage {
  name: string;
  /** The base image, build arguments substituted. */
  image: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  args: Record<string, string>;
  stages: Stage[];
}

export interface CopyInstruction {
  /** The stage copied from; absent for the build context. */
  from?: string;
  sources: string[];
  dest: string;
}

const KNOWN = new Set([
  'ARG',
  'FROM',
  'WORKDIR',
  'COPY',
  'RUN',
  'ENV',
  'USER',
  'EXPOSE',
  'LABEL',
  'ENTRYPOINT',
  'CMD',
]);

/** Splits a Dockerfile into stages of instructions (comments and continuations handled). */
export function parseDockerfile(text: string): Dockerfile {
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let logical = lines[i]!.trim();
    if (!logical || logical.startsWith('#')) continue;
    while (logical.endsWith('\\')) {
      logical = logical.slice(0, -1);
      i++;
      // Comment lines inside a continuation are dropped, as Docker does.
      while (i < lines.length && lines[i]!.trim().startsWith('#')) i++;
      logical += ` ${(lines[i] ?? '').trim()}`;
    }
    const match = /^(\S+)\s*(.*)$/.exec(logical)!;
    const keyword = match[1]!.toUpperCase();
    const rest = match[2]!.trim();
    if (!KNOWN.has(keyword)) throw new Error(`Dockerfile line ${start + 1}: ${keyword} unknown`);
    if (keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!from) throw new Error(`Dockerfile line ${start + 1}: cannot read FROM ${rest}`);
      const image = from[1]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string, b: string) => {
        const value = args[a ?? b];
        if (value === undefined) throw new Error(`FROM uses undeclared ARG ${a ?? b}`);
        return value;
      });
      stages.push({ name: from[2] ?? String(stages.length), image, instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (stage) stage.instructions.push({ keyword, args: rest, line: start + 1 });
    else if (keyword === 'ARG') {
      const [name, value = ''] = rest.split('=', 2);
      args[name!] = value.replace(/^"(.*)"$/, '$1');
    } else throw new Error(`Dockerfile line ${start + 1}: ${keyword} before FROM`);
  }
  return { args, stages };
}

/** The arguments of each instruction with this keyword, in order. */
export function instructionArgs(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

/** COPY's shell form; flags other than --from are refused. */
export function readCopy(args: string): CopyInstruction {
  const words = args.split(/\s+/);
  let from: string | undefined;
  while (words[0]?.startsWith('--')) {
    const flag = words.shift()!;
    if (!flag.startsWith('--from=')) throw new Error(`COPY ${flag} is not supported here`);
    from = flag.slice('--from='.length);
  }
  if (words.length < 2) throw new Error(`COPY needs a source and a destination: ${args}`);
  if (words.some((w) => /[*?[]/.test(w))) throw new Error(`COPY wildcards unsupported: ${args}`);
  const dest = words.pop()!;
  return { ...(from !== undefined && { from }), sources: words, dest };
}

/** ENTRYPOINT or CMD in exec (JSON) form. */
export function readExecForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) {
    throw new Error(`not an exec-form array: ${args}`);
  }
  return parsed;
}

/** key=value pairs of LABEL or ENV, values optionally double-quoted. */
export function readKeyValues(args: string): Record<string, string> {
  const pairs: Record<string, string> = {};
  const re = /([\w.-]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))/g;
  let consumed = '';
  for (const m of args.matchAll(re)) {
    pairs[m[1]!] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
    consumed += m[0];
  }
  if (consumed.replace(/\s/g, '') !== args.replace(/\s/g, '')) {
    throw new Error(`cannot read key=value pairs: ${args}`);
  }
  return pairs;
}

// .dockerignore -----------------------------------------------------------------------------

export interface IgnorePattern {
  exclusion: boolean;
  /** The pattern's text up to its first wildcard, for pruning the walk. */
  literalPrefix: string;
  regex: RegExp;
}

/** .dockerignore lines as patterns (Go filepath.Match syntax plus `**`). */
export function parseDockerignore(text: string): IgnorePattern[] {
  const patterns: IgnorePattern[] = [];
  for (const raw of text.split('\n')) {
    let line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const exclusion = line.startsWith('!');
    if (exclusion) line = line.slice(1).trim();
    line = line.replace(/^\/+/, '').replace(/\/+$/, '');
    patterns.push({
      exclusion,
      literalPrefix: line.split(/[*?[\\]/, 1)[0]!,
      regex: patternRegex(line),
    });
  }
  return patterns;
}

function patternRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i);
      if (end < 0) throw new Error(`.dockerignore: unclosed [ in ${pattern}`);
      re += `[${pattern.slice(i + 1, end)}]`;
      i = end;
    } else if (c === '\\') re += `\\${pattern[++i] ?? ''}`;
    else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Whether a path (relative to the context, `/`-separated) stays out of the build context:
 * the last pattern matching it or one of its parent directories decides, as in Docker.
 */
export function isIgnored(path: string, patterns: IgnorePattern[]): boolean {
  const parts = path.split('/');
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const p of patterns) {
    if (candidates.some((c) => p.regex.test(c))) ignored = !p.exclusion;
  }
  return ignored;
}

/** Every file `docker build` would send from `root`, as relative `/`-separated paths. */
export function listBuildContext(root: string, patterns: IgnorePattern[]): string[] {
  const files: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        // An ignored directory is skipped unless an exception could re-include something in it.
        const reachable = patterns.some(
          (p) =>
            p.exclusion &&
            (p.literalPrefix.startsWith(`${path}/`) || path.startsWith(p.literalPrefix)),
        );
        if (!isIgnored(path, patterns) || reachable) walk(path);
      } else if (!isIgnored(path, patterns)) files.push(path);
    }
  };
  walk('');
  return files.sort();
}
