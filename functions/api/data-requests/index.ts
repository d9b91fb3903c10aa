import { createRouter } from "../../_shared/app.ts";
import { exportCustomer, get, list } from "./handlers.ts";
import { getDataRequest, listDataRequests, requestExport } from "./routes.ts";

export default createRouter()
  .openapi(requestExport, exportCustomer)
  .openapi(listDataRequests, list)
  .openapi(getDataRequest, get);
