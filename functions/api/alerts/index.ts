// /api/alerts: the monitoring's open and recent alerts (routes.ts, handlers.ts).
import { createRouter } from "../../_shared/app.ts";

export default createRouter();
