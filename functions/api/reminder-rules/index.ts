import { createRouter } from "../../_shared/app.ts";
import { list, update } from "./handlers.ts";
import { listReminderRules, updateReminderRule } from "./routes.ts";

export default createRouter()
  .openapi(listReminderRules, list)
  .openapi(updateReminderRule, update);
