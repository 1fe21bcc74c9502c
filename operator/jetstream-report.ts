/**
 * What an apply changed in JetStream — one list per kind of change — and the recorder that
 * the per-object steps (jetstream-apply.ts, jetstream-buckets.ts) write it with. A JetStream
 * API error concerns one object: it is recorded and the rest still applies; anything else
 * (timeouts, a closed connection) propagates, for the caller to retry the whole apply.
 */
import { JetStreamApiError } from '@nats-io/jetstream';
import type { Logger } from '../core/logging.js';

export interface TopologyChange {
  object: 'stream' | 'consumer';
  stream: string;
  /** Durable name, for consumers. */
  consumer?: string;
  /** Drifted (updated) or conflicting fields. */
  fields?: string[];
  /** Why, for kept objects, conflicts and failures. */
  message?: string;
  /** The JetStream err_code of a failure. */
  code?: number;
}

export interface ApplyReport {
  created: TopologyChange[];
  updated: TopologyChange[];
  deleted: TopologyChange[];
  /**
   * Streams of removed EventTypes kept because their deletionPolicy is Retain (each reported
   * once per `reportedKept` set, i.e. once per operator process).
   */
  kept: TopologyChange[];
  /** Differences JetStream cannot apply in place (storage, retention, ack_policy…): left as they are. */
  conflicts: TopologyChange[];
  /** Objects JetStream refused; the rest of the topology still applied. */
  failed: TopologyChange[];
}

export function emptyReport(): ApplyReport {
  return { created: [], updated: [], deleted: [], kept: [], conflicts: [], failed: [] };
}

export function isReportEmpty(report: ApplyReport): boolean {
  return Object.values(report).every((list: unknown[]) => list.length === 0);
}

/** One report of two phases, in order. */
export function mergeReports(a: ApplyReport, b: ApplyReport): ApplyReport {
  const out = emptyReport();
  for (const key of Object.keys(out) as (keyof ApplyReport)[]) out[key] = [...a[key], ...b[key]];
  return out;
}

/** Whether `err` is JetStream refusing with this err_code (JetStreamApiCodes). */
export const hasCode = (err: unknown, code: number): boolean =>
  err instanceof JetStreamApiError && err.code === code;

/** Records per-object steps in one report, and logs each. */
export class ReportRecorder {
  readonly report: ApplyReport = emptyReport();

  constructor(protected readonly log: Logger | undefined) {}

  record(list: keyof ApplyReport, change: TopologyChange, msg: string): void {
    this.report[list].push(change);
    if (list === 'failed' || list === 'conflicts') this.log?.warn({ ...change }, msg);
    else this.log?.info({ ...change }, msg);
  }

  /** Runs one object's step; a JetStream refusal is recorded, anything else propagates. */
  async guard(change: TopologyChange, step: () => Promise<void>): Promise<boolean> {
    try {
      await step();
      return true;
    } catch (err) {
      if (!(err instanceof JetStreamApiError)) throw err;
      this.record(
        'failed',
        { ...change, code: err.code, message: err.message },
        'JetStream refused a change',
      );
      return false;
    }
  }
}
