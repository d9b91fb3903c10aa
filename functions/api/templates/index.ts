import { createRouter } from "../../_shared/app.ts";
import { create, get, lint, list, remove, update } from "./handlers.ts";
import {
  createTemplate,
  deleteTemplate,
  getTemplate,
  lintTemplate,
  listTemplates,
  updateTemplate,
} from "./routes.ts";

export default createRouter()
  .openapi(listTemplates, list)
  .openapi(lintTemplate, lint)
  .openapi(getTemplate, get)
  .openapi(createTemplate, create)
  .openapi(updateTemplate, update)
  .openapi(deleteTemplate, remove);
