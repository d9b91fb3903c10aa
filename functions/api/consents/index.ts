import { createRouter } from "../../_shared/app.ts";
import { list, record } from "./handlers.ts";
import { listConsents, recordConsent } from "./routes.ts";

export default createRouter()
  .openapi(listConsents, list)
  .openapi(recordConsent, record);
