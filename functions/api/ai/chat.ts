// POST /api/ai/chat and GET /api/ai/chat/{caseId}: an agent's conversation with the assistant
// about one case. The case is read as the caller (RLS: a case they cannot see is a 404 before
// anything else); the model gets the case's facts (no personal data), the caller's last turns
// about the same case and the new message, all redacted (assistant.ts); the answer streams back as
// server-sent events, personalised (`<customer>` as the first name) as it goes. Whatever stops the
// model (switched off, not configured, over budget, down, slow, refusing), the answer is the rules'
// factual summary of the case, streamed the same way; when the model fails after part of its answer
// was sent (cut at the token limit, silent past the timeout, the connection lost), an `event:
// discard` tells the client to drop that part before the rules' answer follows. Only the per-user
// rate limit refuses (429, before the stream). The turn is stored as service_role once the case
// was checked as the caller, each message twice: as the desk sees it (the agent's text as typed,
// the answer with first names) and as the model saw it (redacted then, with the names known then).
// Later prompts are built from the redacted texts alone, so a name corrected since never reaches
// the model. A client that leaves midway does not stop the turn: the answer is read to its end,
// stored and billed, and the history shows it.
import type { RouteHandler } from "@hono/zod-openapi";
import type { Context } from "hono";
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import type { AppEnv } from "../../_shared/app.ts";
import { type KnownPeople, streamChat } from "../../_shared/ai/assistant.ts";
import { personalise, redact } from "../../_shared/ai/redact.ts";
import { asCaller, asService, type Tx } from "../../_shared/db.ts";
import { isConnectionFailure, notFound, type Problem, ProblemError } from "../../_shared/errors.ts";
import { log } from "../../_shared/log.ts";
import { type FallbackReason, refuseWhenRateLimited } from "./answer.ts";
import { type ChatCase, readChatCase } from "./chat_facts.ts";
import type { getChatHistory, postChat } from "./chat_routes.ts";
import { rulesAnswer } from "./chat_rules.ts";

/** How many earlier turns (a message and its answer each) of the caller's go to the model. */
export const historyTurns = 6;

/** The system message of every chat request. */
export const chatInstructions =
  "You are the assistant of an insurance renewal desk in India. An agent asks you about one " +
  "renewal case. Answer from the case facts given (JSON) and the conversation so far, nothing " +
  "else: if the facts do not say, say that you do not know; never invent figures, dates, " +
  "policy terms or promises. Money in the facts is in paise (100 paise = 1 rupee): say it in " +
  "rupees. Dates are Indian (IST). The customer is <customer>; phone numbers, emails, PAN and " +
  "Aadhaar numbers appear as tokens such as <phone>: keep the tokens as they are and never ask " +
  "for or guess what they stand for. Be brief and practical: a few sentences, in the language " +
  "the agent writes in.";

/** A stored message of the conversation, as the history answers it. */
interface StoredMessage {
  id: string;
  role: "agent" | "assistant";
  content: string;
  source: "model" | "rules" | null;
  fallback_reason: FallbackReason | null;
  created_at: string;
}

/**
 * The caller's latest `limit` messages about `caseId` as the model saw them (redacted when their
 * turn was recorded), oldest first, for the next prompt (RLS: their own only). Messages recorded
 * before the redacted text was kept have none and are left out: redacting them now would use
 * today's names.
 */
function promptHistory(tx: Tx, caseId: string, limit: number) {
  return tx<{ role: "agent" | "assistant"; redacted_content: string }[]>`
    select m.role, m.redacted_content
      from (select h.role, h.redacted_content, h.created_at, h.id
              from public.ai_chat_messages h
             where h.case_id = ${caseId} and h.author = auth.uid()
               and h.redacted_content is not null
             order by h.created_at desc, h.id desc
             limit ${limit}) m
     order by m.created_at, m.id`;
}

/** The caller's latest `limit` messages about `caseId`, oldest first (RLS: their own only). */
function latestMessages(tx: Tx, caseId: string, limit: number) {
  return tx<StoredMessage[]>`
    select m.id, m.role, m.content, m.source, m.fallback_reason, m.created_at
      from (select * from public.ai_chat_messages h
             where h.case_id = ${caseId} and h.author = auth.uid()
             order by h.created_at desc, h.id desc
             limit ${limit}) m
     order by m.created_at, m.id`;
}

/**
 * The model's deltas as the desk sees them: `<customer>` and `<agent>` put back as first names.
 * A token cut across two deltas (`<cust` + `omer>`) is held back until it is whole; a `<` that
 * cannot start a token (`3 < 5`) is not.
 */
export class PersonalisedText {
  private held = "";
  /** Everything handed out so far. */
  text = "";

  constructor(private readonly known: KnownPeople) {}

  /** The part of `piece` (with what was held) that can be shown now; may be empty. */
  push(piece: string): string {
    this.held += piece;
    const open = this.held.lastIndexOf("<");
    let ready = this.held;
    // Held only while it can still become a token (`<customer>`, `<agent>`: lower case and _).
    if (open >= 0 && /^<[a-z_]{0,15}$/.test(this.held.slice(open))) {
      ready = this.held.slice(0, open);
      this.held = this.held.slice(open);
    } else {
      this.held = "";
    }
    return this.emit(ready);
  }

  /** Whatever is still held, at the end of the answer. */
  flush(): string {
    const rest = this.held;
    this.held = "";
    return this.emit(rest);
  }

  private emit(raw: string): string {
    const shown = personalise(raw, this.known);
    this.text += shown;
    return shown;
  }
}

function writeDelta(stream: SSEStreamingApi, text: string) {
  return stream.writeSSE({ event: "delta", data: JSON.stringify({ text }) });
}

function writeError(stream: SSEStreamingApi, problem: Problem) {
  return stream.writeSSE({ event: "error", data: JSON.stringify(problem) });
}

/** Tells the client to drop the deltas sent so far: the model's answer failed midway. */
function writeDiscard(stream: SSEStreamingApi, reason: FallbackReason) {
  return stream.writeSSE({ event: "discard", data: JSON.stringify({ reason }) });
}

/** The agent's message, as typed and as the model saw it. */
interface Question {
  text: string;
  redacted: string;
}

/** How an answer ended, to be stored: as shown to the desk and as redacted for later prompts. */
interface Finished {
  answer: string;
  answerRedacted: string;
  source: "model" | "rules";
  reason: FallbackReason | null;
  requestId: string | null;
}

/** Stores the turn (service_role: the caller was checked to see the case); the answer's id. */
async function recordTurn(
  chatCase: ChatCase,
  author: string,
  question: Question,
  askedAt: Date,
  finished: Finished,
): Promise<string> {
  const [row] = await asService((tx) =>
    tx<{ answer_id: string }[]>`
      select answer_id
        from private.record_ai_chat_turn(${chatCase.caseId}::uuid, ${author}::uuid,
                                         ${question.text}, ${question.redacted},
                                         ${finished.answer}, ${finished.answerRedacted},
                                         ${finished.source}, ${finished.reason},
                                         ${finished.requestId}::uuid, ${askedAt}::timestamptz)`
  );
  return row.answer_id;
}

/** The rules' summary, streamed a sentence at a time; its whole text. */
async function streamRules(
  stream: SSEStreamingApi,
  chatCase: ChatCase,
  message: string,
  reason: FallbackReason,
): Promise<string> {
  const sentences = rulesAnswer(chatCase.facts, message, reason);
  for (const [i, sentence] of sentences.entries()) {
    await writeDelta(stream, i < sentences.length - 1 ? `${sentence} ` : sentence);
  }
  return sentences.join(" ");
}

/** POST /ai/chat: 404 / 422 / 429 as problem+json, otherwise the answer as server-sent events. */
export const chat: RouteHandler<typeof postChat, AppEnv> = async (c) => {
  const { case_id: caseId, message } = c.req.valid("json");
  const claims = c.get("claims");
  const askedAt = new Date();
  const read = await asCaller(claims, async (tx) => {
    const chatCase = await readChatCase(tx, caseId);
    if (!chatCase) return undefined;
    // An erased customer's case: nothing said about them is sent to the model or stored (409).
    const [erased] = await tx`
      select 1 from public.customers where id = ${chatCase.customerId} and erased_at is not null`;
    if (erased) {
      throw new ProblemError(
        409,
        "Conflict",
        "The case's customer was erased: no chat about them is kept.",
      );
    }
    const [me] = await tx<{ id: string }[]>`select auth.uid() as id`;
    const history = await promptHistory(tx, caseId, historyTurns * 2);
    return { chatCase, author: me.id, history };
  });
  if (!read) throw notFound("case");
  const { chatCase, author, history } = read;
  const known: KnownPeople = { customer: chatCase.names.customer, agent: chatCase.names.agent };
  // Redacted once, with the names known now: sent so, and stored so for later turns.
  const question: Question = { text: message, redacted: redact(message, known) };

  const reply = await streamChat({
    purpose: "chat",
    claims,
    caseId: chatCase.caseId,
    customerId: chatCase.customerId,
    instructions: chatInstructions,
    facts: chatCase.facts,
    history: history.map((turn) => ({ role: turn.role, content: turn.redacted_content })),
    message: question.redacted,
    known,
  });
  refuseWhenRateLimited(reply);

  const instance = new URL(c.req.url).pathname;
  return sse(c, async (stream) => {
    /** The rules' answer, streamed, as the turn's answer. */
    const rules = async (reason: FallbackReason, requestId: string | null): Promise<Finished> => {
      const answer = await streamRules(stream, chatCase, message, reason);
      // The rules' text holds no personal data (the facts hold none); redacted all the same.
      return { answer, answerRedacted: redact(answer, known), source: "rules", reason, requestId };
    };
    let finished: Finished;
    if (reply.source === "rules") {
      finished = await rules(reply.reason, reply.requestId ?? null);
    } else {
      const shown = new PersonalisedText(known);
      for await (const piece of reply.deltas) {
        const text = shown.push(piece);
        if (text) await writeDelta(stream, text);
      }
      const outcome = await reply.result;
      if (outcome.source === "model") {
        const tail = shown.flush();
        if (tail) await writeDelta(stream, tail);
        finished = {
          answer: shown.text,
          answerRedacted: redact(outcome.text, known),
          source: "model",
          reason: null,
          requestId: reply.requestId,
        };
      } else {
        // A refusal or an empty answer showed nothing; an answer that failed midway (cut at the
        // token limit, silent past the timeout, the connection lost) showed a part that is not
        // an answer: the client drops it, and the rules' answer follows either way.
        if (shown.text !== "") await writeDiscard(stream, outcome.reason);
        finished = await rules(outcome.reason, reply.requestId);
      }
    }
    // Stored even when the client has gone (stream.aborted): the answer exists and was paid for.
    const messageId = await recordTurn(chatCase, author, question, askedAt, finished);
    if (stream.aborted) {
      log("info", "ai chat: the client left before the end; the turn is stored", {
        request_id: c.get("requestId"),
        message_id: messageId,
      });
    }
    await stream.writeSSE({
      event: "done",
      data: JSON.stringify({
        message_id: messageId,
        source: finished.source,
        ...(finished.reason ? { fallback_reason: finished.reason } : {}),
      }),
    });
  }, instance);
};

/**
 * streamSSE with this API's error handling: anything thrown while streaming (the database gone
 * while storing the turn) ends the stream with an `event: error` problem instead of a cut
 * connection, logged with the request id.
 */
function sse(
  c: Context<AppEnv>,
  work: (stream: SSEStreamingApi) => Promise<void>,
  instance: string,
): Response {
  return streamSSE(c, async (stream) => {
    try {
      await work(stream);
    } catch (error) {
      const unavailable = isConnectionFailure(error);
      log(unavailable ? "warn" : "error", "ai chat: the stream failed", {
        request_id: c.get("requestId"),
        error,
      });
      await writeError(stream, {
        type: "about:blank",
        title: unavailable ? "Service Unavailable" : "Internal Server Error",
        status: unavailable ? 503 : 500,
        detail: unavailable
          ? "The database is not available; the answer was not stored. Ask again shortly."
          : `Something went wrong; quote request id ${c.get("requestId") ?? "unknown"}.`,
        instance,
      });
    }
  });
}

/** GET /ai/chat/{caseId}: the caller's own conversation about a case they see; else 404. */
export const history: RouteHandler<typeof getChatHistory, AppEnv> = async (c) => {
  const { caseId } = c.req.valid("param");
  const { limit } = c.req.valid("query");
  const data = await asCaller(c.get("claims"), async (tx) => {
    const [visible] = await tx`select 1 from public.renewal_cases where id = ${caseId}`;
    if (!visible) return undefined;
    return await latestMessages(tx, caseId, limit);
  });
  if (!data) throw notFound("case");
  return c.json({ data }, 200);
};
