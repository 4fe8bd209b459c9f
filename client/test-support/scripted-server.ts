// A scripted WebSocket server for the client's tests: `onConnection` decides what it says.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

/** A running scripted server. */
export interface ScriptedServer {
  url: string;
  /** The request path of every connection, in order. */
  urls: string[];
  close: () => Promise<void>;
}

/** Starts a server on a free port; `onConnection` gets each socket (`n` counts from 1). */
export async function scripted(onConnection: (ws: WebSocket, n: number) => void): Promise<ScriptedServer> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  const urls: string[] = [];
  wss.on('connection', (ws, request) => {
    urls.push(request.url ?? '');
    onConnection(ws, urls.length);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/`,
    urls,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise((r) => wss.close(r));
      await new Promise((r) => http.close(r));
    },
  };
}

/** A `hello` frame; `limits` adds to the usual ones. */
export function hello(limits: Record<string, unknown> = {}): string {
  return JSON.stringify({
    event: 'hello',
    data: {
      protocol: 1,
      server: 'scripted',
      user: null,
      limits: { max_message_bytes: 65536, page_size: 25, max_page_size: 100, max_subscriptions: 10, ...limits },
    },
  });
}
