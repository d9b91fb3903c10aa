import { createRouter } from "../../_shared/app.ts";
import { patch, profile } from "./handlers.ts";
import { getCustomerProfile, patchCustomer } from "./routes.ts";

export default createRouter()
  .openapi(getCustomerProfile, profile)
  .openapi(patchCustomer, patch);
