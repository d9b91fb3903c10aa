import { createRouter } from "../../_shared/app.ts";
import { list, redrive, send } from "./handlers.ts";
import { listMessages, redriveMessages, sendMessage } from "./routes.ts";

export default createRouter()
  .openapi(sendMessage, send)
  .openapi(listMessages, list)
  .openapi(redriveMessages, redrive);
