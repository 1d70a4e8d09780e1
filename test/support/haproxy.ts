import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort } from './process.js';

export const HAPROXY = '/usr/sbin/haproxy';

export interface Haproxy {
  url: string;
  /** Server name → state (`UP`, `DOWN`, `MAINT`, …) from the runtime API. */
  states(): Promise<Record<string, string>>;
  waitFor(server: string, state: 'UP' | 'DOWN', timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The configuration the scale-out tests use and deploy/ mirrors: round robin, no stickiness (no cookie, no
 * source hashing), health checks on /readyz, a request that cannot connect is sent to another server
 * (`retry-on conn-failure` + `option redispatch`), and a new server connection per request so that an instance
 * leaving never holds idle connections. `X-Served-By` names the instance that answered.
 */
export function haproxyConfig(port: number, socket: string, backends: { name: string; port: number }[]): string {
  return `global
  maxconn 2000
  stats socket ${socket} mode 600 level admin

defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  option http-server-close
  retries 3
  retry-on conn-failure
  option redispatch 1

frontend public
  bind 127.0.0.1:${port}
  default_backend provider

backend provider
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 250ms fall 2 rise 1
  http-response set-header X-Served-By %s
${backends.map((backend) => `  server ${backend.name} 127.0.0.1:${backend.port} check`).join('\n')}
`;
}

async function runtime(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const connection = net.createConnection(socket);
    let out = '';
    connection.on('connect', () => connection.end(`${command}\n`));
    connection.on('data', (chunk) => {
      out += chunk.toString();
    });
    connection.on('end', () => resolve(out));
    connection.on('error', reject);
  });
}

/** Starts Debian's HAProxy in the foreground on 127.0.0.1 in front of the given ports. */
export async function startHaproxy(dir: string, backends: { name: string; port: number }[]): Promise<Haproxy> {
  const port = await freePort();
  const socket = path.join(dir, 'haproxy.sock');
  const file = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(file, haproxyConfig(port, socket, backends));
  const child: ChildProcess = spawn(HAPROXY, ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const states = async () => {
    const csv = await runtime(socket, 'show stat');
    const result: Record<string, string> = {};
    for (const line of csv.split('\n')) {
      const [proxy, server, ...rest] = line.split(',');
      if (proxy === 'provider' && server && server !== 'BACKEND') result[server] = rest[15] ?? ''; // column 18: status
    }
    return result;
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr}`);
    try {
      await states();
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`haproxy did not start: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    url: `http://127.0.0.1:${port}`,
    states,
    async waitFor(server, state, timeoutMs = 15_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const current = (await states())[server] ?? '';
        if (current.startsWith(state)) return;
        if (Date.now() > until) throw new Error(`haproxy: ${server} is ${current}, expected ${state}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
