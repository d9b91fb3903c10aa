import { createRouter } from "../../_shared/app.ts";
import { create, members, tree, update } from "./handlers.ts";
import { nodePerformance } from "./performance.ts";
import { getNodePerformance } from "./performance_routes.ts";
import { createNode, getHierarchy, listMembers, updateNode } from "./routes.ts";

export default createRouter()
  .openapi(getHierarchy, tree)
  .openapi(createNode, create)
  .openapi(updateNode, update)
  .openapi(listMembers, members)
  .openapi(getNodePerformance, nodePerformance);
