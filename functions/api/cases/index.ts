import { createRouter } from "../../_shared/app.ts";
import { get, list, patch } from "./handlers.ts";
import { getCase, listCases, patchCase } from "./routes.ts";

export default createRouter()
  .openapi(listCases, list)
  .openapi(getCase, get)
  .openapi(patchCase, patch);
