/**
 * The standalone source of resources (DESIGN.md §6): a directory of YAML files, read like
 * `kubectl apply -f DIR` reads it (top level only, `*.yaml`/`*.yml`, multi-document), and
 * watched for changes. Each document is validated on its own: a bad one is reported with its
 * file, line, resource and field, and every other document still loads.
 */
import { watch } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import { validateResource } from '../core/resources/validate.js';
import { Defaults, Kind, type HeraldResource, type Secret } from '../core/resources/types.js';

export const FileProblemReason = {
  InvalidYaml: 'InvalidYaml',
  InvalidResource: 'InvalidResource',
  DuplicateName: 'DuplicateName',
  ReadFailed: 'ReadFailed',
} as const;
export type FileProblemReason = (typeof FileProblemReason)[keyof typeof FileProblemReason];

export interface FileProblem {
  file: string;
  reason: FileProblemReason;
  /** 1-based line: of the syntax error, or where the document starts. */
  line?: number;
  kind?: string;
  namespace?: string;
  name?: string;
  /** The field at fault, e.g. `spec.delivery.timeout`. */
  path?: string;
  /** Never quotes the document: it may be a Secret. */
  message: string;
}

/** A document of a kind Herald does not read (a Namespace, a ConfigMap…). */
export interface SkippedDocument {
  file: string;
  line?: number;
  apiVersion?: string;
  kind?: string;
  name?: string;
}

export interface ResourceDirectory {
  resources: HeraldResource[];
  secrets: Secret[];
  errors: FileProblem[];
  skipped: SkippedDocument[];
  /** The file each resource and Secret came from, by resourceKeyOf(). */
  origins: Map<string, string>;
}

export const resourceKeyOf = (kind: string, namespace: string, name: string): string =>
  `${kind}/${namespace}/${name}`;

/** Files the loader reads; dotfiles (editor locks, `..data` of ConfigMap mounts) are not. */
export function isResourceFileName(name: string): boolean {
  return !name.startsWith('.') && /\.ya?ml$/i.test(name);
}

const HERALD_KINDS = new Set<string>(Object.values(Kind));

/** Herald's kinds under herald.dev (any version: validation names a wrong one) and v1 Secrets. */
function isReadKind(apiVersion: unknown, kind: unknown): boolean {
  if (typeof kind !== 'string') return true; // let validation say what is missing
  if (kind === 'Secret') return apiVersion === 'v1';
  return (
    HERALD_KINDS.has(kind) && typeof apiVersion === 'string' && apiVersion.startsWith('herald.dev/')
  );
}

function metadataOf(obj: unknown): { name?: string; namespace?: string } {
  const meta = (obj as { metadata?: unknown } | null)?.metadata;
  if (typeof meta !== 'object' || meta === null) return {};
  const { name, namespace } = meta as Record<string, unknown>;
  return {
    ...(typeof name === 'string' && { name }),
    ...(typeof namespace === 'string' && { namespace }),
  };
}

interface Loaded {
  resources: (HeraldResource | Secret)[];
  errors: FileProblem[];
  skipped: SkippedDocument[];
}

/** Parses and validates every document of one file. */
export function parseResourceFile(file: string, text: string): Loaded {
  const out: Loaded = { resources: [], errors: [], skipped: [] };
  const lineCounter = new LineCounter();
  // prettyErrors off: the pretty form quotes the source, which may hold secret values.
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  for (const doc of docs) {
    const start = doc.contents?.range[0] ?? doc.range[0];
    const line = lineCounter.linePos(start).line;
    const syntax = doc.errors[0];
    if (syntax) {
      const at = lineCounter.linePos(syntax.pos[0]).line;
      out.errors.push({
        file,
        reason: FileProblemReason.InvalidYaml,
        line: at,
        message: `YAML syntax error at line ${at}: ${syntax.message.split('\n')[0]}`,
      });
      continue;
    }
    let obj: unknown;
    try {
      obj = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      const message = `cannot read the document at line ${line}: ${err instanceof Error ? err.message : String(err)}`;
      out.errors.push({ file, reason: FileProblemReason.InvalidYaml, line, message });
      continue;
    }
    if (obj === null || obj === undefined) continue; // an empty document, e.g. after a final ---
    const { apiVersion, kind } = (typeof obj === 'object' ? obj : {}) as Record<string, unknown>;
    const meta = metadataOf(obj);
    if (typeof obj === 'object' && !isReadKind(apiVersion, kind)) {
      out.skipped.push({
        file,
        line,
        ...(typeof apiVersion === 'string' && { apiVersion }),
        ...(typeof kind === 'string' && { kind }),
        ...(meta.name !== undefined && { name: meta.name }),
      });
      continue;
    }
    const result = validateResource(obj);
    if (result.ok) {
      out.resources.push(result.resource);
      continue;
    }
    const who = {
      ...(result.kind !== undefined && { kind: result.kind }),
      namespace: meta.namespace || Defaults.namespace,
      ...(result.name !== undefined && { name: result.name }),
    };
    for (const e of result.errors) {
      out.errors.push({
        file,
        reason: FileProblemReason.InvalidResource,
        line,
        ...who,
        ...(e.path && { path: e.path }),
        message: e.message,
      });
    }
  }
  return out;
}

/** Reads every resource file of `dir` (in name order). Throws only when `dir` cannot be listed. */
export async function loadResourceDirectory(dir: string): Promise<ResourceDirectory> {
  const names = (await readdir(dir, { withFileTypes: true }))
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && isResourceFileName(e.name))
    .map((e) => e.name)
    .sort();
  const out: ResourceDirectory = {
    resources: [],
    secrets: [],
    errors: [],
    skipped: [],
    origins: new Map(),
  };
  for (const name of names) {
    const file = join(dir, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      // Deleted between listing and reading, or a dangling symlink: the next change event retries.
      const message = `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
      out.errors.push({ file, reason: FileProblemReason.ReadFailed, message });
      continue;
    }
    const loaded = parseResourceFile(file, text);
    out.errors.push(...loaded.errors);
    out.skipped.push(...loaded.skipped);
    for (const r of loaded.resources) {
      const namespace = r.metadata.namespace || Defaults.namespace;
      const key = resourceKeyOf(r.kind, namespace, r.metadata.name);
      const first = out.origins.get(key);
      if (first !== undefined) {
        out.errors.push({
          file,
          reason: FileProblemReason.DuplicateName,
          kind: r.kind,
          namespace,
          name: r.metadata.name,
          path: 'metadata.name',
          message: `${r.kind} "${namespace}/${r.metadata.name}" is already defined in ${first}; this definition is ignored`,
        });
        continue;
      }
      out.origins.set(key, file);
      if (r.kind === 'Secret') out.secrets.push(r);
      else out.resources.push(r);
    }
  }
  return out;
}

export interface WatchOptions {
  /** Quiet time before onChange: files written in several steps settle first. Default 200 ms. */
  debounceMs?: number;
  onError?: (err: Error) => void;
}

/**
 * Calls onChange once the directory has been quiet for debounceMs after any change. Every
 * event counts, not only *.yaml ones: a ConfigMap mount swaps a `..data` symlink, and an
 * extra re-read is cheap. Returns a function that stops watching.
 */
export function watchResourceDirectory(
  dir: string,
  onChange: () => void,
  options: WatchOptions = {},
): () => void {
  const debounceMs = options.debounceMs ?? 200;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const watcher = watch(dir, { persistent: false }, () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (!stopped) onChange();
    }, debounceMs);
  });
  watcher.on('error', (err) => options.onError?.(err));
  return () => {
    stopped = true;
    clearTimeout(timer);
    watcher.close();
  };
}
