// /api/alerts: the monitoring's open and recent alerts.
import { createRouter } from "../../_shared/app.ts";
import { list } from "./handlers.ts";
import { listAlerts } from "./routes.ts";

export default createRouter().openapi(listAlerts, list);
