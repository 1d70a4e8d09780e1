import net from 'node:net';

/** A TCP proxy that a test can cut and restore, to simulate the database going away and coming back. */
export interface TcpProxy {
  port: number;
  url: string;
  cut(): Promise<void>;
  restore(): Promise<void>;
  /** Sends new connections to another port (existing ones are closed): one stable address for successive servers. */
  switchTo(port: number): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(initial: { host: string; port: number }): Promise<TcpProxy> {
  const target = { ...initial };
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  const listen = async () => {
    server = net.createServer((incoming) => {
      const outgoing = net.connect(target.port, target.host);
      sockets.add(incoming).add(outgoing);
      incoming.pipe(outgoing).pipe(incoming);
      const drop = () => {
        incoming.destroy();
        outgoing.destroy();
        sockets.delete(incoming);
        sockets.delete(outgoing);
      };
      incoming.on('error', drop).on('close', drop);
      outgoing.on('error', drop).on('close', drop);
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    port = (server!.address() as net.AddressInfo).port;
  };
  const cut = async () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
  };
  await listen();
  return {
    get port() {
      return port;
    },
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    cut,
    restore: listen,
    async switchTo(next: number) {
      target.port = next;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await new Promise((resolve) => setTimeout(resolve, 100)); // let pooled client connections see the close
    },
    close: cut,
  };
}
