import { createServer } from 'node:net';

/**
 * Ask the kernel for a free TCP port on `host` by listening on port 0 and closing again.
 *
 * There is a small window in which another process could take the port; callers that start a
 * server on it should be prepared to retry with a fresh port if binding fails.
 */
export function getFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`could not determine a free port on ${host}`));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}
