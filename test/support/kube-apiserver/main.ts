/**
 * `npm run kube-apiserver -- [--port N] [--crds DIR]`: the fake API server on its own, for
 * pointing kubectl at it. Prints the kubeconfig path and URL; runs until SIGINT or SIGTERM.
 */
import { parseArgs } from 'node:util';
import { startKubeApiServer } from './server.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    crds: { type: 'string', default: 'crds/' },
    'no-crds': { type: 'boolean', default: false },
    'bookmark-interval': { type: 'string', default: '60' },
    verbose: { type: 'boolean', short: 'v', default: false },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be a port number (0 = any free port), got ${values.port}`);
  process.exit(2);
}

const api = await startKubeApiServer({
  port,
  crdsDir: values['no-crds'] ? false : values.crds,
  bookmarkIntervalMs: Number(values['bookmark-interval']) * 1000,
  log: values.verbose ? (line) => console.error(line) : undefined,
});
console.log(`kube-apiserver (fake) listening on ${api.url}`);
console.log(`kubeconfig: ${api.kubeconfigPath}`);
console.log(`try: KUBECONFIG=${api.kubeconfigPath} kubectl get herald -A`);

const stop = (): void => {
  void api.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
