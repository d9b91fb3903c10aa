// /api/ai: the assistant's endpoints. Each answers usefully whether the model is on, off, slow,
// failing or over budget (the answer's `source` and `fallback_reason` say which).
import { createRouter } from "../../_shared/app.ts";
import { chat, history } from "./chat.ts";
import { getChatHistory, postChat } from "./chat_routes.ts";
import { draft } from "./drafts.ts";
import { createDraft } from "./drafts_routes.ts";
import { recommend } from "./recommendations.ts";
import { recommendPolicies } from "./recommendation_routes.ts";
import { assess } from "./risk.ts";
import { assessRisk } from "./risk_routes.ts";

export default createRouter()
  .openapi(assessRisk, assess)
  .openapi(recommendPolicies, recommend)
  .openapi(createDraft, draft)
  .openapi(postChat, chat)
  .openapi(getChatHistory, history);
