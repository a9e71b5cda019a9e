/**
 * The HTTP server of the dashboard and the demo page: on 127.0.0.1 unless told
 * otherwise, quiet, answering a handler's failure with a 500 and a report.
 * @module
 */

/** Where a local server listens, and who hears of its errors. */
export interface LocalServerOptions {
  /** Port (0: any free one). */
  port: number;
  /** Address to bind (default 127.0.0.1: this machine only). */
  host?: string;
  /** Told of a request that failed (the client gets a 500). */
  onError?: (error: unknown) => void;
}

/** A started server. */
export interface LocalServer {
  /** `http://host:port/`, with an IPv6 host in brackets. */
  url: string;
  /** Stops it; resolves once closed. */
  close(): Promise<void>;
}

/**
 * Serves `handle` as the options say.
 *
 * @example
 * ```ts
 * import { serveLocal } from "./local_server.ts";
 * const server = serveLocal(() => new Response("hello\n"), { port: 0 });
 * console.log(await (await fetch(server.url)).text()); // "hello\n"
 * await server.close();
 * ```
 */
export function serveLocal(
  handle: (request: Request) => Response | Promise<Response>,
  options: LocalServerOptions,
): LocalServer {
  const server = Deno.serve({
    port: options.port,
    hostname: options.host ?? "127.0.0.1",
    onListen: () => {},
    onError: (e) => {
      options.onError?.(e);
      return new Response("error\n", { status: 500 });
    },
  }, handle);
  const { hostname, port } = server.addr as Deno.NetAddr;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return { url: `http://${host}:${port}/`, close: () => server.shutdown() };
}
