import { createRouter } from "../../_shared/app.ts";
import { bulkStatus, deliveryStatus } from "./handlers.ts";
import { getBulkStatus, getDeliveryStatus } from "./routes.ts";

export default createRouter()
  .openapi(getDeliveryStatus, deliveryStatus)
  .openapi(getBulkStatus, bulkStatus);
