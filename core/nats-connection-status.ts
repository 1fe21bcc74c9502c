/** Following a NATS connection's status, for readiness and logs. */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from './logging.js';

/**
 * Logs disconnects and reconnects (nats.js keeps reconnecting on its own) and reports each
 * change through `setConnected`; returns when the connection closes.
 */
export async function followConnection(
  nc: NatsConnection,
  logger: Logger,
  setConnected: (connected: boolean) => void,
): Promise<void> {
  for await (const status of nc.status()) {
    switch (status.type) {
      case 'disconnect':
        setConnected(false);
        logger.warn({ server: status.server }, 'NATS disconnected');
        break;
      case 'reconnect':
        setConnected(true);
        logger.info({ server: status.server }, 'NATS reconnected');
        break;
      case 'close':
        setConnected(false);
        break;
    }
  }
}
