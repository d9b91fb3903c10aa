// The functions gateway in a process of its own, as `npm start` serves it (scripts/gateway.ts:
// every function of supabase/config.toml under /functions/v1/<name>), for the webhook ingest
// benchmark. `deno run -A bench/lib/gateway_process.ts PORT` with the functions' environment
// (FUNCTIONS_DB_URL, PUBLIC_FUNCTIONS_URL, the vendors' secrets); prints "gateway on PORT" once
// it listens, and serves until SIGTERM.
import { serveGateway } from "../../scripts/gateway.ts";

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
