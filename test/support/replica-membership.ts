/** Awaiting a replica count (core/replica-membership.ts) without polling or sleeping. */
import type { ReplicaMembership } from '../../core/replica-membership.js';

/** Resolves once `m` counts `n` replicas (at once when it already does). */
export function countReaches(m: ReplicaMembership, n: number): Promise<void> {
  if (m.count === n) return Promise.resolve();
  return new Promise((resolve) => {
    const onChange = (count: number): void => {
      if (count !== n) return;
      m.off('change', onChange);
      resolve();
    };
    m.on('change', onChange);
  });
}
