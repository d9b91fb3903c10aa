import { createRouter } from "../../_shared/app.ts";
import { cancel, get, open } from "./handlers.ts";
import { cancelAutopay, getAutopay, openAutopay } from "./routes.ts";

export default createRouter()
  .openapi(openAutopay, open)
  .openapi(getAutopay, get)
  .openapi(cancelAutopay, cancel);
