// /api/ai/chat: an agent's conversation with the assistant about one renewal case, answered as
// server-sent events and grounded on that case's facts only; the caller's history of it.
import { createRoute, z } from "@hono/zod-openapi";
import { DateTime, orNull } from "../../_shared/domain.ts";
import {
  commonProblems,
  json,
  jsonBody,
  problem,
  signedIn,
  uuidParam,
} from "../../_shared/schemas.ts";
import { FallbackReasonSchema, rateLimitedProblem } from "./answer.ts";

/** The longest message an agent may send, in characters. */
export const maxChatMessageLength = 2000;

/**
 * Whether `text` says something once format characters (zero-width spaces and joiners, the BOM,
 * direction marks: Unicode category Cf) and white space are taken out.
 */
export function hasVisibleText(text: string): boolean {
  return text.replace(/\p{Cf}/gu, "").trim().length > 0;
}

/** POST /ai/chat's body: the case and what the agent asks about it, nothing else. */
export const ChatRequestSchema = z.strictObject({
  case_id: z.guid().openapi({ description: "The renewal case the conversation is about" }),
  message: z.string().min(1).max(maxChatMessageLength)
    // A lone UTF-16 surrogate has no UTF-8 form: the database would refuse it (22P02).
    .refine((text) => text.isWellFormed(), "must be well-formed Unicode (no lone surrogate)")
    .refine(hasVisibleText, "must not be blank (zero-width and format characters do not count)")
    .refine((text) => !text.includes("\u0000"), "must not contain NUL characters")
    .openapi({
      description: "What the agent asks (1 to 2,000 characters of well-formed Unicode, not " +
        "blank once white space and zero-width / format characters are taken out). Stored as " +
        "typed in the agent's history; phone numbers, emails, PAN and Aadhaar numbers and names " +
        "are replaced by tokens before anything reaches the model, and that redacted text is " +
        "what later turns send again",
      example: "Why is this case high risk, and what should I say on the call?",
    }),
}).openapi("ChatRequest");

/** The data of an `event: delta`: the next piece of the answer. */
export const ChatDeltaSchema = z.object({ text: z.string() }).openapi("ChatDelta");

/**
 * The data of an `event: discard`: the model's answer failed after part of it was sent; the
 * client drops the deltas received so far, and the rules' answer follows.
 */
export const ChatDiscardSchema = z.object({
  reason: FallbackReasonSchema.openapi({
    description: "Why the partial answer is void: invalid (cut at the token limit), timeout " +
      "(the model went silent mid-answer), unavailable (the connection to it was lost); the " +
      "same as the closing done's fallback_reason",
  }),
}).openapi("ChatDiscard");

/** The data of the closing `event: done`: the stored answer and where it came from. */
export const ChatDoneSchema = z.object({
  message_id: z.guid().openapi({ description: "The stored answer (public.ai_chat_messages)" }),
  source: z.enum(["model", "rules"]).openapi({
    description: "model: the assistant's answer; rules: a factual summary of the case built " +
      "without the model (fallback_reason says why)",
  }),
  fallback_reason: FallbackReasonSchema.optional(),
}).openapi("ChatDone");

const eventStreamDescription = "Server-sent events (`text/event-stream`): one or more " +
  '`event: delta` whose data is a ChatDelta JSON (`{"text": ...}`, the answer\'s next piece), ' +
  'then `event: done` whose data is a ChatDone JSON (`{"message_id", "source", ' +
  '"fallback_reason"?}`) once the turn is stored. When the model\'s answer fails after part ' +
  "of it was sent (cut at the token limit, silent past the timeout, the connection lost), an " +
  '`event: discard` whose data is a ChatDiscard JSON (`{"reason"}`) tells the client to drop ' +
  "every delta received so far; the rules' answer then streams as more deltas and `done` says " +
  "`source: rules` with that reason. The history stores the rules' answer, never the partial " +
  "one. `event: error` (data: a Problem JSON) ends the stream only when nothing can be " +
  "answered (the database failed while storing the turn). A client that disconnects midway " +
  "does not cancel the turn: the answer is read to its end, stored (and billed) all the same, " +
  "and GET /ai/chat/{caseId} shows it.";

/** POST /ai/chat. */
export const postChat = createRoute({
  operationId: "chatAboutCase",
  method: "post",
  path: "/ai/chat",
  tags: ["AI"],
  summary: "Ask the assistant about a case; the answer streams as server-sent events",
  description: "Grounded on the case's facts only (stage, dates, what is owed, installments, " +
    "lapse risk and its reasons, the latest messages' and payments' statuses, open tasks), never " +
    "the customer's personal data, plus the caller's last turns about the same case. When the " +
    "assistant is switched off, not configured, over budget, down or slow, the answer is a " +
    "factual summary of the case, streamed the same way with `source: rules`; when the model " +
    "fails midway, `event: discard` voids what was sent and the summary follows. The caller's " +
    "AI rate limit is the one refusal: 429 before the stream starts.",
  ...signedIn,
  request: { body: jsonBody(ChatRequestSchema) },
  responses: {
    200: {
      description: eventStreamDescription,
      content: {
        "text/event-stream": {
          schema: z.string().openapi({
            description: eventStreamDescription,
            example: 'event: delta\ndata: {"text":"This renewal is due on 2026-12-24 and "}\n\n' +
              'event: discard\ndata: {"reason":"timeout"}\n\n' +
              'event: delta\ndata: {"text":"Case RC-2026-000123 (motor, Test General) is at ' +
              'stage new, priority normal. "}\n\n' +
              'event: delta\ndata: {"text":"It is due on 2026-12-24, in 25 days."}\n\n' +
              'event: done\ndata: {"message_id":"6b0f6c1e-6f8e-4a53-a1f1-1f0f3b9c2d4e",' +
              '"source":"rules","fallback_reason":"timeout"}\n\n',
          }),
        },
      },
    },
    ...commonProblems,
    404: problem("No such case, or not the caller's to see"),
    409: problem("The case's customer was erased: nothing about them is sent or kept"),
    ...rateLimitedProblem,
  },
});

/** One stored message of the caller's conversation about a case. */
export const ChatMessageSchema = z.object({
  id: z.guid(),
  role: z.enum(["agent", "assistant"]).openapi({
    description: "agent: what the caller typed (as typed); assistant: the answer they got " +
      "(the rules' answer when the model's failed midway)",
  }),
  content: z.string(),
  source: orNull(z.enum(["model", "rules"])).openapi({
    description: "Where an answer came from; null on the agent's messages",
  }),
  fallback_reason: orNull(FallbackReasonSchema),
  created_at: DateTime,
}).openapi("ChatMessage");

export const ChatHistoryQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100).openapi({
    description: "How many of the latest messages to return",
  }),
});

/** GET /ai/chat/{caseId}. */
export const getChatHistory = createRoute({
  operationId: "getCaseChat",
  method: "get",
  path: "/ai/chat/{caseId}",
  tags: ["AI"],
  summary: "My conversation with the assistant about a case, oldest first",
  description: "The caller's own messages and the answers they got (the latest `limit`), while " +
    "the caller can see the case. Nobody else's conversation, whatever the caller's role.",
  ...signedIn,
  request: {
    params: z.object({ caseId: uuidParam("caseId", "Renewal case id") }),
    query: ChatHistoryQuery,
  },
  responses: {
    200: json("The conversation", z.object({ data: z.array(ChatMessageSchema) })),
    ...commonProblems,
    404: problem("No such case, or not the caller's to see"),
  },
});
