/**
 * Dead letters: the original event, in structured JSON, plus `heralderror*` extension
 * attributes saying why it was given up on, published to HERALD_DLQ on
 * `herald.dlq.<ns>.<subscription>` (DESIGN.md §3). The stream itself is the operator's.
 */
import { createHash } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { encodeStructured } from '../core/cloudevents/index.js';
import { MediaType, type AttributeValue, type CloudEvent } from '../core/cloudevents/types.js';
import { dlqSubjectFor } from '../core/topology.js';
import { truncateUtf8, BODY_EXCERPT_BYTES } from './deliver.js';
import type { DeadLetterCode } from './retry.js';

export const DeadLetterAttribute = {
  Code: 'heralderrorcode',
  Reason: 'heralderrorreason',
  Attempts: 'heralderrorattempts',
  Status: 'heralderrorstatus',
  Body: 'heralderrorbody',
} as const;

/** NATS headers on a dead letter, so tooling can find the original without decoding. */
export const DeadLetterHeader = {
  Subscription: 'Herald-Subscription',
  SourceStream: 'Herald-Source-Stream',
  SourceSequence: 'Herald-Source-Sequence',
  OriginalMsgId: 'Herald-Original-Msg-Id',
  Producer: 'Herald-Producer',
} as const;

export interface DeadLetterDetails {
  code: DeadLetterCode;
  reason: string;
  attempts: number;
  /** The last HTTP status, when the sink answered at all. */
  status?: number;
  /** Start of the last response body; cut to 1 KiB. */
  bodyExcerpt?: string;
}

const CONTROL_CHARACTER = /\p{Cc}/gu;
const NONCHARACTER_OR_LONE_SURROGATE = /[\p{Noncharacter_Code_Point}\p{Cs}]/gu;

/**
 * Makes free text a valid CloudEvents String: control characters (U+0000–U+001F,
 * U+007F–U+009F: newlines, tabs, NUL…) become a space, so a multi-line body still reads as
 * text; Unicode noncharacters and unpaired surrogates become U+FFFD, the replacement
 * character. Neither replacement makes the UTF-8 longer, so a cut excerpt stays within its
 * limit.
 */
export function toCloudEventsString(text: string): string {
  return text.replace(CONTROL_CHARACTER, ' ').replace(NONCHARACTER_OR_LONE_SURROGATE, '\uFFFD');
}

/**
 * The event with heralderror* attributes added (replacing any from an earlier dead-lettering).
 * The reason and the body excerpt are made valid CloudEvents strings (see
 * toCloudEventsString): the dead letter must decode with Herald's own strict codec.
 */
export function buildDeadLetterEvent(event: CloudEvent, details: DeadLetterDetails): CloudEvent {
  const attributes: Record<string, AttributeValue> = { ...event.attributes };
  for (const name of Object.values(DeadLetterAttribute)) delete attributes[name];
  attributes[DeadLetterAttribute.Code] = details.code;
  attributes[DeadLetterAttribute.Reason] = toCloudEventsString(details.reason);
  attributes[DeadLetterAttribute.Attempts] = details.attempts;
  if (details.status !== undefined) attributes[DeadLetterAttribute.Status] = details.status;
  if (details.bodyExcerpt) {
    attributes[DeadLetterAttribute.Body] = toCloudEventsString(
      truncateUtf8(Buffer.from(details.bodyExcerpt, 'utf8'), BODY_EXCERPT_BYTES),
    );
  }
  return { attributes, data: event.data };
}

export interface DeadLetterSource {
  namespace: string;
  subscription: string;
  stream: string;
  streamSequence: number;
  /** The event's Nats-Msg-Id. */
  messageId: string;
  producer?: string;
}

/**
 * Publishes the dead letter and waits for JetStream's ack. Its Nats-Msg-Id is derived from
 * (subscription, event, stream sequence), so a crash between this publish and the term() that
 * follows cannot store the same dead letter twice within the DLQ's duplicate window.
 */
export async function publishDeadLetter(
  js: JetStreamClient,
  source: DeadLetterSource,
  event: CloudEvent,
  details: DeadLetterDetails,
): Promise<void> {
  const body = encodeStructured(buildDeadLetterEvent(event, details));
  const h = natsHeaders();
  h.set('Content-Type', MediaType.Structured);
  h.set(DeadLetterHeader.Subscription, `${source.namespace}/${source.subscription}`);
  h.set(DeadLetterHeader.SourceStream, source.stream);
  h.set(DeadLetterHeader.SourceSequence, String(source.streamSequence));
  h.set(DeadLetterHeader.OriginalMsgId, source.messageId);
  if (source.producer) h.set(DeadLetterHeader.Producer, source.producer);
  const msgID = createHash('sha256')
    .update(`${source.namespace}/${source.subscription}\0${source.messageId}\0`)
    .update(`${source.stream}:${source.streamSequence}`)
    .digest('base64url');
  await js.publish(dlqSubjectFor(source.namespace, source.subscription), body, {
    headers: h,
    msgID,
  });
}
