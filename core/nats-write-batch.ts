/**
 * NATS writes made during one turn of the event loop, sent as one socket write.
 *
 * nats.js flushes its outbound buffer in a microtask after the first write into an empty
 * buffer. A dispatcher settles each delivery from its own HTTP response callback, so every
 * ledger request, ack and attempt record went out as a socket write of its own: a system call
 * here and a wake-up of nats-server's reader there, per message. Queued here and issued
 * together from setImmediate, the writes of a whole turn share one flush (profile and figures:
 * bench/README.md, issue 4 item 13).
 *
 * A write may wait until the end of the current turn (well under a millisecond when idle).
 * Before a connection closes, `sendQueuedWrites()` issues what is still queued.
 */

type Write = () => void;
type OnError = (err: unknown) => void;

const queue: { write: Write; onError: OnError | undefined }[] = [];
let scheduled: NodeJS.Immediate | undefined;

/**
 * Queues `write` (a publish, ack, nak…) for the end of this turn. `onError` receives what it
 * throws (typically a closed connection); without one the error is dropped, as nats.js drops
 * a failed socket write.
 */
export function sendSoon(write: Write, onError?: OnError): void {
  queue.push({ write, onError });
  scheduled ??= setImmediate(sendQueuedWrites);
}

/** Issues every queued write now, in order (writes they queue in turn too). */
export function sendQueuedWrites(): void {
  if (scheduled) {
    clearImmediate(scheduled);
    scheduled = undefined;
  }
  // Taken out of the queue before running: nothing runs twice, even if a handler throws or a
  // write calls this function again.
  for (let batch = queue.splice(0); batch.length > 0; batch = queue.splice(0)) {
    for (const { write, onError } of batch) {
      try {
        write();
      } catch (err) {
        try {
          onError?.(err);
        } catch {
          // A failing error handler must not cost the other writes (nor the process).
        }
      }
    }
  }
}

/** Writes waiting for the end of the turn (for tests). */
export function countQueuedWrites(): number {
  return queue.length;
}
