import { createRouter } from "../../_shared/app.ts";
import { erase } from "./handlers.ts";
import { eraseCustomer } from "./routes.ts";

export default createRouter()
  .openapi(eraseCustomer, erase);
