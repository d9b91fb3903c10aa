import { createRouter } from "../../_shared/app.ts";
import { patch, profile, search } from "./handlers.ts";
import { getCustomerProfile, patchCustomer, searchCustomers } from "./routes.ts";

export default createRouter()
  .openapi(searchCustomers, search)
  .openapi(getCustomerProfile, profile)
  .openapi(patchCustomer, patch);
