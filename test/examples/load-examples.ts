/** Reads every YAML document under examples/, in kubectl's order (file name, then position). */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const EXAMPLES_DIR = join(import.meta.dirname, '..', '..', 'examples');

export interface ExampleDocument {
  file: string;
  index: number;
  value: unknown;
}

export function loadExampleDocuments(): ExampleDocument[] {
  const files = readdirSync(EXAMPLES_DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(join(EXAMPLES_DIR, file), 'utf8')).map((doc, index) => {
      if (doc.errors.length > 0) {
        throw new Error(
          `${file} document ${index}: ${doc.errors.map((e) => e.message).join('; ')}`,
        );
      }
      return { file, index, value: doc.toJS() as unknown };
    }),
  );
}
