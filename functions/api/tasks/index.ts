import { createRouter } from "../../_shared/app.ts";
import { list, update } from "./handlers.ts";
import { listTasks, updateTask } from "./routes.ts";

export default createRouter()
  .openapi(listTasks, list)
  .openapi(updateTask, update);
