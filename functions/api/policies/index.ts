import { createRouter } from "../../_shared/app.ts";
import { timeline } from "./handlers.ts";
import { getPolicyTimeline } from "./routes.ts";

export default createRouter()
  .openapi(getPolicyTimeline, timeline);
