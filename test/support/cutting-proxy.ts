import net from 'node:net';
import { REDIS_URL } from './services.js';

/** A TCP proxy to Redis that, when armed, drops the next reply and cuts the connection. */
export async function cuttingProxy() {
  const target = new URL(REDIS_URL);
  const sockets = new Set<net.Socket>();
  let armed = false;
  let cuts = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (!armed) return void client.write(chunk);
      armed = false;
      cuts++;
      client.destroy();
      upstream.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    arm: () => void (armed = true),
    cuts: () => cuts,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
