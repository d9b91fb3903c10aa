import { createRouter } from "../../_shared/app.ts";
import { communications, performance } from "./handlers.ts";
import { getVendorCommunications, getVendorPerformance } from "./routes.ts";

export default createRouter()
  .openapi(getVendorCommunications, communications)
  .openapi(getVendorPerformance, performance);
