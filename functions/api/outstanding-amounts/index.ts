import { createRouter } from "../../_shared/app.ts";
import { list, settle } from "./handlers.ts";
import { listOutstandingAmounts, settleOutstandingAmount } from "./routes.ts";

export default createRouter()
  .openapi(listOutstandingAmounts, list)
  .openapi(settleOutstandingAmount, settle);
