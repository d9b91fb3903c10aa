import { createRouter } from "../../_shared/app.ts";
import { create, list, performance, remove, update } from "./handlers.ts";
import {
  createChannel,
  deleteChannel,
  getChannelPerformance,
  listChannels,
  updateChannel,
} from "./routes.ts";

export default createRouter()
  .openapi(listChannels, list)
  .openapi(createChannel, create)
  .openapi(updateChannel, update)
  .openapi(deleteChannel, remove)
  .openapi(getChannelPerformance, performance);
