// `npm run db -- <start|stop|reset|status>`: the dev database on its own.
import { devCluster } from "./lib/cluster.ts";
import { prepareDevDatabase } from "./lib/dev.ts";

const command = Deno.args[0];
const cluster = await devCluster();

switch (command) {
  case "start":
    await prepareDevDatabase();
    console.log(`Database up: ${cluster.url()}`);
    break;
  case "stop":
    await cluster.stop();
    console.log("Database stopped.");
    break;
  case "reset":
    await cluster.remove();
    await prepareDevDatabase();
    console.log(`Database rebuilt with demo data: ${cluster.url()}`);
    break;
  case "status":
    console.log(
      (await cluster.isRunning()) ? `up: ${cluster.url()}` : `down (data in ${cluster.dataDir})`,
    );
    break;
  default:
    console.error("usage: npm run db -- <start|stop|reset|status>");
    Deno.exit(2);
}
