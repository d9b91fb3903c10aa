import { createRouter } from "../../_shared/app.ts";
import { create, list, remove, update } from "./handlers.ts";
import { createChannel, deleteChannel, listChannels, updateChannel } from "./routes.ts";

export default createRouter()
  .openapi(listChannels, list)
  .openapi(createChannel, create)
  .openapi(updateChannel, update)
  .openapi(deleteChannel, remove);
