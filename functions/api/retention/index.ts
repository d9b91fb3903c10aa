// /api/retention: the retention purge's runs.
import { createRouter } from "../../_shared/app.ts";
import { listRuns } from "./handlers.ts";
import { listRetentionRuns } from "./routes.ts";

export default createRouter().openapi(listRetentionRuns, listRuns);
