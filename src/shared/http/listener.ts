import type http from 'node:http';

/**
 * A Koa application's handler (`app.callback()`) as a Node request listener. Koa settles every request itself
 * (its error handling answers the client and emits `error`), so the promise it returns is deliberately not awaited.
 */
export function nodeListener(handle: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>): http.RequestListener {
  return (req, res) => {
    void handle(req, res);
  };
}
