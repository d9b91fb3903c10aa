// The functions gateway: one Deno process serving every function in supabase/config.toml under
// /functions/v1/<name>/..., the URL shape of Supabase, so supabase-js works unchanged. Like
// Supabase's relay it checks the JWT first for functions with `verify_jwt = true`.
//
// `deno run -A scripts/gateway.ts [PORT]` serves in a process of its own (the local stack, the
// benchmarks) with the functions' environment; it prints `gateway on PORT` once it listens and
// serves until SIGTERM.
import { parse } from "smol-toml";
import { bearerToken, verifyToken } from "../functions/_shared/auth.ts";
import { ProblemError, problemResponse } from "../functions/_shared/errors.ts";
import { projectRoot } from "./lib/run.ts";

interface EdgeFunction {
  name: string;
  verifyJwt: boolean;
  fetch: (request: Request) => Response | Promise<Response>;
}

interface FunctionConfig {
  enabled?: boolean;
  verify_jwt?: boolean;
}

/** Imports each enabled function's `app.ts` as listed in supabase/config.toml. */
export async function loadFunctions(): Promise<Map<string, EdgeFunction>> {
  const toml = parse(await Deno.readTextFile(`${projectRoot}/supabase/config.toml`));
  const entries = Object.entries((toml.functions ?? {}) as Record<string, FunctionConfig>);
  const functions = new Map<string, EdgeFunction>();
  for (const [name, settings] of entries) {
    if (settings.enabled === false) continue;
    const module = await import(`${projectRoot}/functions/${name}/app.ts`);
    functions.set(name, {
      name,
      verifyJwt: settings.verify_jwt ?? true,
      fetch: module.default.fetch,
    });
  }
  return functions;
}

const route = /^\/functions\/v1\/([a-z0-9_-]+)(\/.*)?$/;

/** Routes a request to its function, with the path the function sees on Supabase. */
export function gatewayHandler(functions: Map<string, EdgeFunction>) {
  return async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const match = url.pathname.match(route);
    const fn = match && functions.get(match[1]);
    if (!fn) {
      return problemResponse(404, {
        detail: `No function serves ${url.pathname}.`,
        instance: url.pathname,
      });
    }
    if (fn.verifyJwt && request.method !== "OPTIONS") {
      const token = bearerToken(request.headers.get("authorization"));
      try {
        if (!token) throw new ProblemError(401, "Unauthorized", "Missing authorization header.");
        await verifyToken(token);
      } catch (error) {
        if (!(error instanceof ProblemError)) throw error;
        return error.toResponse(url.pathname);
      }
    }
    const inner = new URL(`/${fn.name}${match![2] ?? ""}${url.search}`, url);
    // A fresh request rather than `new Request(inner, request)`, which would read (and so tie
    // the function to) the incoming request's abort signal.
    return await fn.fetch(
      new Request(inner, { method: request.method, headers: request.headers, body: request.body }),
    );
  };
}

export interface Gateway {
  port: number;
  functions: string[];
  shutdown(): Promise<void>;
}

/**
 * The listen queue of the gateway's socket: connections the kernel holds until the gateway's one
 * thread accepts them (Deno's default is 511; Linux caps it at net.core.somaxconn, 4096 by
 * default). A vendor's burst of callbacks opens a connection for each (the sandbox's thousands of
 * Twilio status callbacks of a campaign); while a busy machine keeps the thread from accepting,
 * 511 overflowed (the kernel's ListenOverflows counter) and the connections it could not queue
 * ended in "Connection reset by peer" in the vendor's client: callbacks lost, as Twilio does not
 * retry a status callback.
 */
export const gatewayTcpBacklog = 4096;

/** Serves every function on `port` (0 picks a free one), with a listen queue of gatewayTcpBacklog. */
export async function serveGateway(
  port: number,
  onRequest: (response: Response) => void = () => {},
): Promise<Gateway> {
  const functions = await loadFunctions();
  const handle = gatewayHandler(functions);
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port,
    tcpBacklog: gatewayTcpBacklog,
    onListen: () => {},
  }, async (req) => {
    const response = await handle(req);
    onRequest(response);
    return response;
  });
  return {
    port: server.addr.port,
    functions: [...functions.keys()],
    shutdown: () => server.shutdown(),
  };
}

if (import.meta.main) {
  const gateway = await serveGateway(Number(Deno.args[0] ?? 0));
  console.log(`gateway on ${gateway.port} serving ${gateway.functions.join(", ")}`);
  const stop = async () => {
    await gateway.shutdown();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}
