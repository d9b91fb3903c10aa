import { createRouter } from "../../_shared/app.ts";
import { profile } from "./handlers.ts";
import { getCustomerProfile } from "./routes.ts";

export default createRouter().openapi(getCustomerProfile, profile);
