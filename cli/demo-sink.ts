/**
 * `herald sink`: a demo webhook receiver. Prints each delivery (type, id, source, data) and
 * whether its Standard Webhooks signature verifies, then answers 204. Accepts binary and
 * structured mode, as the dispatcher sends either.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeHttpRequest } from '../core/cloudevents/index.js';
import type { CloudEvent } from '../core/cloudevents/types.js';
import { verifyWebhook, WebhookHeader } from '../core/signing.js';

/** The demo sink's port unless told otherwise; examples/30-subscription.yaml delivers there. */
export const DEFAULT_SINK_PORT = 8088;

/** The signing secrets to verify with: fixed, or looked up for each signed delivery. */
export type SinkSecrets = readonly string[] | (() => Promise<readonly string[]>);

export interface DemoSinkOptions {
  port: number;
  host?: string;
  /**
   * Signing secrets (`whsec_…`) a delivery may be signed with; empty = "not checked". A function
   * is called per signed delivery, so secrets edited while running are used (`herald run`).
   */
  secrets: SinkSecrets;
  /** Where lines go (stdout by default). */
  write?: (line: string) => void;
  /** Called for each delivery, after printing (tests). */
  onDelivery?: (delivery: SinkDelivery) => void;
}

export const SignatureStatus = {
  Verified: 'verified',
  Invalid: 'INVALID',
  Unsigned: 'unsigned',
  NoSecret: 'not checked (no secret configured)',
} as const;
export type SignatureStatus = (typeof SignatureStatus)[keyof typeof SignatureStatus];

export interface SinkDelivery {
  event: CloudEvent | undefined;
  error?: string;
  signature: SignatureStatus;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export interface RunningDemoSink {
  port: number;
  url: string;
  stop(): Promise<void>;
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

async function checkSignature(
  lookup: SinkSecrets,
  req: IncomingMessage,
  body: Buffer,
): Promise<SignatureStatus> {
  const signature = headerText(req.headers[WebhookHeader.Signature]);
  if (!signature) return SignatureStatus.Unsigned;
  const secrets = typeof lookup === 'function' ? await lookup() : lookup;
  if (secrets.length === 0) return SignatureStatus.NoSecret;
  const result = verifyWebhook(
    secrets,
    {
      id: headerText(req.headers[WebhookHeader.Id]),
      timestamp: headerText(req.headers[WebhookHeader.Timestamp]),
      signature,
    },
    body,
  );
  return result.ok ? SignatureStatus.Verified : SignatureStatus.Invalid;
}

function describeData(event: CloudEvent): string {
  const data = event.data;
  if (!data) return '(none)';
  if (data.kind === 'json') return data.text ?? JSON.stringify(data.value);
  if (data.kind === 'text') return data.value;
  return `<${data.value.byteLength} bytes>`;
}

export function formatDelivery(d: SinkDelivery): string {
  if (!d.event) return `[sink] not a CloudEvent (${d.error}); signature: ${d.signature}`;
  const a = d.event.attributes;
  return [
    `[sink] ${String(a.type)}  id=${String(a.id)}  source=${String(a.source)}  signature: ${d.signature}`,
    `       data: ${describeData(d.event)}`,
  ].join('\n');
}

export async function startDemoSink(options: DemoSinkOptions): Promise<RunningDemoSink> {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const answer = async (req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> => {
    let event: CloudEvent | undefined;
    let error: string | undefined;
    try {
      event = decodeHttpRequest(req.headers, body).events[0];
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    const delivery: SinkDelivery = {
      event,
      signature: await checkSignature(options.secrets, req, body),
      headers: req.headers,
      body,
      ...(error === undefined ? {} : { error }),
    };
    write(formatDelivery(delivery));
    options.onDelivery?.(delivery);
    res.writeHead(204).end();
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'OPTIONS') {
      // The CloudEvents webhook validation handshake: a demo sink consents to any origin.
      const origin = req.headers['webhook-request-origin'];
      write(`[sink] validation handshake from ${String(origin ?? '?')}: allowed`);
      res
        .writeHead(200, {
          'WebHook-Allowed-Origin': typeof origin === 'string' ? origin : '*',
          'WebHook-Allowed-Rate': '*',
          Allow: 'POST',
        })
        .end();
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      answer(req, res, Buffer.concat(chunks)).catch((err: unknown) => {
        write(
          `[sink] could not check the delivery: ${err instanceof Error ? err.message : String(err)}`,
        );
        res.writeHead(500).end();
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://${options.host ?? '127.0.0.1'}:${port}/`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
