// The AI assistant's core (issue 10): one way to ask OpenAI for a structured answer
// (askStructured) and one to stream a chat answer (streamChat), both behind the same guard rails.
//
//   flag off (ENABLE_AI_ASSISTANT)        → rules / disabled        no row, no call
//   no OPENAI_API_KEY                     → rules / not_configured  no row, no call
//   prompt built from the facts, redacted (redact.ts), hashed (model + schema + messages)
//   cannot be built (a schema OpenAI cannot express, facts not JSON), or the database refuses
//   the admission for anything but being unreachable  → rules / unavailable, logged as an error
//   the same prompt answered ok recently  → cache                   row `cached`, no call
//   over the per-user rate limit          → rules / rate_limited    row `rate_limited`, no call
//   over the user's day / the month's ₹   → rules / over_budget     row `over_budget`, no call
//   the model's answer valid              → model                   row `ok`
//   refused, cut at the token limit, not JSON, not the schema, or failing the consumer's
//   validate(): asked once more, then     → rules / invalid         row invalid/refused/truncated
//   429, 5xx, connection refused          → rules / unavailable     row `error`
//   no answer within AI_TIMEOUT_MS        → rules / timeout         row `timeout`
//
// The checks before the call run in the database (private.ai_cached / ai_admit, under advisory
// locks: parallel requests overshoot a limit by at most one); the row a call opened is settled
// whatever happens (private.ai_settle in a finally), with tokens, exact cost, latency and the
// answer. The settings come from private.ai_settings(), which reads a bad value as its default
// (logged here as an error, by key, never by value). Everything stored or returned is
// well-formed Unicode (a lone surrogate would make the database refuse the JSON). The SDK retries nothing (maxRetries 0): a second attempt is ours, and only for an
// invalid answer. Answers are asked with `chat.completions.create` and a zodResponseFormat, and
// parsed here rather than by `chat.completions.parse`, which throws away the usage (the tokens we
// pay for) of an answer it cannot parse.
import OpenAI, { APIConnectionTimeoutError, APIError } from "openai";
import { zodResponseFormat } from "openai/helpers/zod";
import type { ChatCompletionMessageParam } from "openai/resources/chat/completions";
import type { ZodType } from "zod";
import { type Config, config as processConfig } from "../config.ts";
import { asService, type Claims, DatabaseUnavailable, type Tx } from "../db.ts";
import { aiPurposes } from "../domain.ts";
import { log } from "../log.ts";
import { type KnownPeople, redact, redactValue, wellFormed, wellFormedValue } from "./redact.ts";

export type { KnownPeople } from "./redact.ts";

/** What an AI request is for (public.ai_purpose). */
export type AiPurpose = typeof aiPurposes[number];

/** Why an answer is the rule-based one, as the API's `fallback_reason` says it. */
export const fallbackReasons = [
  "disabled",
  "not_configured",
  "rate_limited",
  "over_budget",
  "unavailable",
  "timeout",
  "invalid",
] as const;
/** One of fallbackReasons. */
export type FallbackReason = typeof fallbackReasons[number];

/**
 * The assistant did not answer: the caller gives its rule-based answer, with `reason` as its
 * `fallback_reason`. `retryAfterSeconds` comes with rate_limited (until the window frees a place)
 * and over_budget (until the next IST midnight or month); `requestId` is the ai_requests row, when
 * one was written (not for disabled / not_configured, nor for a request that could not be built
 * or admitted).
 */
export interface AiFallback {
  source: "rules";
  reason: FallbackReason;
  retryAfterSeconds?: number;
  requestId?: string;
}

/** The model's answer (`model`) or an earlier identical one (`cache`), parsed and validated. */
export interface AiValue<T> {
  source: "model" | "cache";
  value: T;
  /** The public.ai_requests row of this request. */
  requestId: string;
}

/** What askStructured() answers: a validated value, or the reason to use the rules. */
export type AiAnswer<T> = AiValue<T> | AiFallback;

/** The question askStructured() asks. */
export interface AskStructuredOptions<T> {
  purpose: AiPurpose;
  /** The caller's verified claims: `sub` is who the request is charged to (rate limit, budget). */
  claims: Claims;
  /** The case the request is about (recorded; the caller must have been checked to see it). */
  caseId?: string | null;
  /** The customer the request is about (recorded likewise). */
  customerId?: string | null;
  /** The answer's shape. Every property required, objects closed (OpenAI's strict mode). */
  schema: ZodType<T>;
  /** The schema's name for OpenAI (letters, digits, _ and -), e.g. `risk_explanation`. */
  schemaName: string;
  /** The system message: what to do and how. Redacted like the facts. */
  instructions: string;
  /** What the answer may use, as JSON: ids, dates, amounts in paise, stages, reasons. Every
   * string in it is redacted (numbers are not); it should hold no personal data anyway. */
  facts: unknown;
  /** Names to redact from the instructions and facts (the customer's, the agent's). */
  known?: KnownPeople;
  /** How old a cached answer may be, in seconds: default the AI_CACHE_SECONDS setting; 0 never
   * serves from the cache; Infinity serves any earlier answer to the same prompt. */
  cacheSeconds?: number;
  /** The consumer's own check of a parsed answer (e.g. every cited fact exists): true or nothing
   * when it may be shown, false or a reason when not (then retried once, then rules/invalid). */
  validate?: (value: T) => boolean | string | null | undefined | void;
}

/** One earlier turn of a chat, oldest first. */
export interface ChatTurn {
  /** `agent` (or `user`): the desk's message; `assistant`: an answer. */
  role: "agent" | "user" | "assistant";
  content: string;
}

/** The message streamChat() answers. */
export interface StreamChatOptions {
  /** Recorded purpose; `chat` unless said otherwise. */
  purpose?: AiPurpose;
  claims: Claims;
  caseId?: string | null;
  customerId?: string | null;
  /** The system message. */
  instructions: string;
  /** The case's facts the answer is grounded on (sent as JSON in a second system message). */
  facts: unknown;
  /** The conversation so far, oldest first; each turn redacted. */
  history?: readonly ChatTurn[];
  /** The agent's new message; redacted. */
  message: string;
  known?: KnownPeople;
}

/** How a streamed chat answer ended: the whole text, or why the rules must answer instead. */
export type ChatOutcome = { source: "model"; requestId: string; text: string } | AiFallback;

/**
 * A chat answer on its way: iterate `deltas` (text pieces, as the model writes them) to the end
 * or break out of it; either settles the ai_requests row, and then `result` resolves. A refusal
 * is never yielded. When the answer goes wrong midway (timeout, cut at the token limit, the
 * connection lost), `result` is a fallback although some deltas were yielded.
 */
export interface ChatStream {
  source: "model";
  requestId: string;
  deltas: AsyncIterable<string>;
  result: Promise<ChatOutcome>;
}

/** What streamChat() resolves to: a stream of the model's answer, or the reason for the rules. */
export type ChatReply = ChatStream | AiFallback;

/** The assistant's two questions; createAssistant() makes one, askStructured() uses the default. */
export interface Assistant {
  askStructured<T>(options: AskStructuredOptions<T>): Promise<AiAnswer<T>>;
  streamChat(options: StreamChatOptions): Promise<ChatReply>;
}

/** What an assistant is built from; each defaults to the process's own. */
export interface AssistantDeps {
  /** The configuration (ENABLE_AI_ASSISTANT, OPENAI_*, AI_TIMEOUT_MS). */
  config?: Config;
  /** The OpenAI client; default one on OPENAI_BASE_URL with no retries and AI_TIMEOUT_MS. */
  client?: OpenAI;
}

/** The AI settings of public.app_settings that the TypeScript side needs. */
interface AiSettings {
  model: string;
  maxOutputTokens: number;
  cacheSeconds: number;
  pricePaisePer1kIn: number;
  pricePaisePer1kOut: number;
}

type Outcome = "ok" | "invalid" | "refused" | "truncated" | "timeout" | "error";

/** Thrown inside the admission transaction to undo a cache hit whose answer no longer parses. */
class StaleCacheHit extends Error {}

/**
 * The AI settings, read by private.ai_settings(): a bad value is its default there (never an
 * error), and the keys that were bad are logged here, each request, until an admin fixes them.
 */
async function readSettings(tx: Tx): Promise<AiSettings> {
  const [row] = await tx`
    select model, max_output_tokens, cache_seconds,
           price_input_paise_per_1k::float8 as price_in,
           price_output_paise_per_1k::float8 as price_out, defaulted
      from private.ai_settings()`;
  if (row.defaulted.length > 0) {
    log("error", "ai: settings that cannot be read; their defaults are used", {
      settings: row.defaulted,
    });
  }
  const finite = (value: number, fallback: number) => Number.isFinite(value) ? value : fallback;
  return {
    model: row.model,
    maxOutputTokens: row.max_output_tokens,
    cacheSeconds: row.cache_seconds,
    pricePaisePer1kIn: finite(row.price_in, 0),
    pricePaisePer1kOut: finite(row.price_out, 0),
  };
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A rough, high token count for the budget check (3 characters a token; Hindi runs higher). */
function estimateTokens(text: string): number {
  return Math.ceil(text.length / 3);
}

/** What a call may cost, in paise (4 decimals), for ai_admit's budget check. */
function estimatePaise(settings: AiSettings, promptChars: string): number {
  const paise = (estimateTokens(promptChars) * settings.pricePaisePer1kIn +
    settings.maxOutputTokens * settings.pricePaisePer1kOut) / 1000;
  return Math.ceil(paise * 10_000) / 10_000;
}

function fallbackFor(outcome: Outcome): FallbackReason {
  return outcome === "timeout" ? "timeout" : outcome === "error" ? "unavailable" : "invalid";
}

/** A failed call as it goes into ai_requests.response: the vendor's status and code, no body. */
function describeError(error: unknown): Record<string, unknown> {
  if (error instanceof APIError) {
    return {
      error: error.constructor.name,
      status: error.status ?? null,
      code: error.code ?? null,
    };
  }
  return { error: error instanceof Error ? error.constructor.name : "unknown" };
}

function isTimeout(error: unknown): boolean {
  return error instanceof APIConnectionTimeoutError ||
    (error instanceof Error && error.name === "TimeoutError");
}

/** The longest text of a bad answer kept in ai_requests.response. */
const keptChars = 4000;

type Admission =
  | { kind: "hit"; requestId: string; value: unknown }
  | { kind: "refused"; fallback: AiFallback }
  | { kind: "admitted"; requestId: string; settings: AiSettings; startedAt?: number };

interface AdmissionRequest {
  purpose: AiPurpose;
  caller: string;
  caseId: string | null;
  customerId: string | null;
  /** Builds what is hashed and sent, once the settings (the model) are known. */
  prompt: (settings: AiSettings) => { hashed: string; messages: ChatCompletionMessageParam[] };
  /** null: no cache lookup; else the cache's max age in seconds (Infinity: any age). */
  cacheSeconds: (settings: AiSettings) => number | null;
  /** Parses a cached answer; throws StaleCacheHit when it does not parse any more. */
  parseHit?: (value: unknown) => unknown;
}

/** Settings, hash, cache lookup and admission, in one service_role transaction. */
async function admit(request: AdmissionRequest): Promise<Admission> {
  const run = (useCache: boolean) =>
    asService(async (tx): Promise<Admission> => {
      const settings = await readSettings(tx);
      const { hashed, messages } = request.prompt(settings);
      const hash = await sha256Hex(hashed);
      const maxAge = useCache ? request.cacheSeconds(settings) : null;
      if (maxAge !== null && maxAge > 0) {
        const [hit] = await tx`
          select request_id, response
            from private.ai_cached(${request.purpose}::public.ai_purpose, ${request.caller}::uuid,
                                   ${request.caseId}::uuid, ${request.customerId}::uuid,
                                   ${settings.model}, ${hash},
                                   ${
          Number.isFinite(maxAge) ? Math.floor(maxAge) : null
        }::integer)`;
        if (hit) {
          const value = request.parseHit ? request.parseHit(hit.response) : hit.response;
          return { kind: "hit", requestId: hit.request_id, value };
        }
      }
      const chars = messages.map((m) => typeof m.content === "string" ? m.content : "").join("");
      const [row] = await tx`
        select request_id, refusal, retry_after_seconds
          from private.ai_admit(${request.purpose}::public.ai_purpose, ${request.caller}::uuid,
                                ${request.caseId}::uuid, ${request.customerId}::uuid,
                                ${settings.model}, ${hash}, ${tx.json(messages as never)}::jsonb,
                                ${estimatePaise(settings, chars)}::numeric)`;
      if (row.refusal) {
        const fallback: AiFallback = { source: "rules", reason: row.refusal as FallbackReason };
        if (row.retry_after_seconds !== null) fallback.retryAfterSeconds = row.retry_after_seconds;
        if (row.request_id) fallback.requestId = row.request_id;
        return { kind: "refused", fallback };
      }
      return { kind: "admitted", requestId: row.request_id, settings };
    });
  try {
    try {
      return await run(true);
    } catch (error) {
      if (!(error instanceof StaleCacheHit)) throw error;
      log("warn", "ai: a cached answer no longer parses; asking the model", {
        purpose: request.purpose,
      });
      return await run(false);
    }
  } catch (error) {
    if (error instanceof DatabaseUnavailable) throw error;
    log("error", "ai: the request could not be admitted; the rules answer", {
      purpose: request.purpose,
      error: errorSummary(error),
    });
    return { kind: "refused", fallback: { source: "rules", reason: "unavailable" } };
  }
}

/** An error as the log may show it: its class, SQLSTATE and message (no detail, no data). */
function errorSummary(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { name: typeof error };
  const code = (error as { code?: unknown }).code;
  return {
    name: error.name,
    ...(typeof code === "string" ? { code } : {}),
    message: error.message.slice(0, 200),
  };
}

interface Settlement {
  outcome: Outcome;
  tokensIn: number;
  tokensOut: number;
  latencyMs: number;
  attempts: number;
  response: unknown;
}

/** Settles the row; a failure is logged, never thrown (the answer was already decided). */
async function settle(requestId: string, s: Settlement, purpose: AiPurpose): Promise<void> {
  try {
    await asService((tx) =>
      tx`select private.ai_settle(${requestId}::uuid, ${s.outcome}::public.ai_outcome,
                                  ${Math.round(s.tokensIn)}::integer,
                                  ${Math.round(s.tokensOut)}::integer,
                                  ${Math.round(s.latencyMs)}::integer, ${s.attempts}::integer,
                                  ${
        s.response === null ? null : tx.json(wellFormedValue(s.response) as never)
      }::jsonb)`
    );
  } catch (error) {
    log("error", "ai: could not settle a request", { requestId, purpose, error });
  }
  if (s.outcome !== "ok") {
    log("warn", "ai: the model's answer was not used", {
      requestId,
      purpose,
      outcome: s.outcome,
      attempts: s.attempts,
    });
  }
}

function callerOf(claims: Claims): string {
  if (typeof claims.sub !== "string" || claims.sub.length === 0) {
    throw new Error("the AI assistant answers signed-in users only (claims.sub is missing)");
  }
  return claims.sub;
}

/** The answer's problem (a string) or null when `validate` accepts it. */
function validationProblem<T>(
  validate: AskStructuredOptions<T>["validate"],
  value: T,
): string | null {
  if (!validate) return null;
  try {
    const verdict = validate(value);
    if (verdict === false) return "rejected by validate()";
    if (typeof verdict === "string") return verdict;
    return null;
  } catch (error) {
    return `validate() threw ${error instanceof Error ? error.message : String(error)}`;
  }
}

/**
 * The fallback when a request cannot even be built (a schema OpenAI's structured outputs cannot
 * express, facts that are not JSON): the rules answer (`unavailable`), logged as an error for
 * whoever wrote the consumer. Neither the facts nor the prompt are logged.
 */
function unbuildable(purpose: AiPurpose, error: unknown, schemaName?: string): AiFallback {
  log("error", "ai: the request could not be built; the rules answer", {
    purpose,
    ...(schemaName ? { schemaName } : {}),
    error: errorSummary(error),
  });
  return { source: "rules", reason: "unavailable" };
}

/**
 * An assistant on a given configuration and client (tests build their own); askStructured() and
 * streamChat() below use one on the process's configuration.
 */
export function createAssistant(deps: AssistantDeps = {}): Assistant {
  let client = deps.client;
  const cfg = () => deps.config ?? processConfig();
  const openai = () => {
    client ??= new OpenAI({
      apiKey: cfg().OPENAI_API_KEY,
      baseURL: cfg().OPENAI_BASE_URL,
      maxRetries: 0,
      timeout: cfg().AI_TIMEOUT_MS,
    });
    return client;
  };
  /** disabled / not_configured before anything, or null to go on. */
  const gate = (): AiFallback | null => {
    if (!cfg().ENABLE_AI_ASSISTANT) return { source: "rules", reason: "disabled" };
    if (!cfg().vendors.openai.enabled) return { source: "rules", reason: "not_configured" };
    return null;
  };

  async function askStructured<T>(options: AskStructuredOptions<T>): Promise<AiAnswer<T>> {
    const closed = gate();
    if (closed) return closed;
    const caller = callerOf(options.claims);
    const known = options.known ?? {};
    let format: ReturnType<typeof zodResponseFormat>;
    let messages: ChatCompletionMessageParam[];
    try {
      format = zodResponseFormat(options.schema as never, options.schemaName);
      messages = [
        { role: "system", content: redact(options.instructions, known) },
        { role: "user", content: JSON.stringify(redactValue(options.facts, known)) },
      ];
    } catch (error) {
      return unbuildable(options.purpose, error, options.schemaName);
    }
    const parse = (value: unknown): T | null => {
      const parsed = options.schema.safeParse(value);
      if (!parsed.success) return null;
      return validationProblem(options.validate, parsed.data) === null ? parsed.data : null;
    };

    const admission = await admit({
      purpose: options.purpose,
      caller,
      caseId: options.caseId ?? null,
      customerId: options.customerId ?? null,
      prompt: (settings) => ({
        hashed: JSON.stringify({ model: settings.model, format: format.json_schema, messages }),
        messages,
      }),
      cacheSeconds: (settings) => {
        const seconds = options.cacheSeconds ?? settings.cacheSeconds;
        return seconds === Infinity ? Infinity : seconds > 0 ? seconds : null;
      },
      parseHit: (value) => {
        const parsed = parse(value);
        if (parsed === null) throw new StaleCacheHit();
        return parsed;
      },
    });
    if (admission.kind === "refused") return admission.fallback;
    if (admission.kind === "hit") {
      return { source: "cache", value: admission.value as T, requestId: admission.requestId };
    }

    const { requestId, settings } = admission;
    const settlement: Settlement = {
      outcome: "error",
      tokensIn: 0,
      tokensOut: 0,
      latencyMs: 0,
      attempts: 0,
      response: null,
    };
    const started = performance.now();
    try {
      for (let attempt = 1; attempt <= 2; attempt++) {
        settlement.attempts = attempt;
        let completion;
        try {
          completion = await openai().chat.completions.create({
            model: settings.model,
            messages,
            response_format: format,
            max_completion_tokens: settings.maxOutputTokens,
          }, { timeout: cfg().AI_TIMEOUT_MS, maxRetries: 0 });
        } catch (error) {
          settlement.outcome = isTimeout(error) ? "timeout" : "error";
          settlement.response = describeError(error);
          if (!(error instanceof APIError) && !isTimeout(error)) {
            log("warn", "ai: the call failed", { requestId, error });
          }
          return { source: "rules", reason: fallbackFor(settlement.outcome), requestId };
        }
        settlement.tokensIn += completion.usage?.prompt_tokens ?? 0;
        settlement.tokensOut += completion.usage?.completion_tokens ?? 0;
        const choice = completion.choices[0];
        const content = choice?.message.content ?? null;
        const refusal = choice?.message.refusal ?? null;
        let problem: string | null = null;
        let outcome: Outcome = "invalid";
        let value: T | null = null;
        if (!choice) {
          problem = "no choice in the answer";
        } else if (refusal) {
          outcome = "refused";
          problem = "refused";
        } else if (choice.finish_reason === "length") {
          outcome = "truncated";
          problem = "cut at the token limit";
        } else if (choice.finish_reason === "content_filter") {
          outcome = "refused";
          problem = "content filter";
        } else if (content === null) {
          problem = "no content";
        } else {
          let json: unknown;
          try {
            json = wellFormedValue(JSON.parse(content));
          } catch {
            problem = "not JSON";
          }
          if (problem === null) {
            const parsed = options.schema.safeParse(json);
            if (!parsed.success) {
              problem = `not the schema: ${
                parsed.error.issues.slice(0, 3).map((i) => `${i.path.join(".")} ${i.message}`)
                  .join("; ")
              }`;
            } else {
              problem = validationProblem(options.validate, parsed.data);
              if (problem === null) value = parsed.data;
            }
          }
        }
        if (value !== null && problem === null) {
          settlement.outcome = "ok";
          settlement.response = value;
          return { source: "model", value, requestId };
        }
        settlement.outcome = outcome;
        settlement.response = {
          problem,
          finish_reason: choice?.finish_reason ?? null,
          content: content === null ? null : content.slice(0, keptChars),
          refusal,
        };
      }
      return { source: "rules", reason: "invalid", requestId };
    } finally {
      settlement.latencyMs = performance.now() - started;
      await settle(requestId, settlement, options.purpose);
    }
  }

  async function streamChat(options: StreamChatOptions): Promise<ChatReply> {
    const closed = gate();
    if (closed) return closed;
    const caller = callerOf(options.claims);
    const purpose = options.purpose ?? "chat";
    const known = options.known ?? {};
    let messages: ChatCompletionMessageParam[];
    try {
      messages = [
        { role: "system", content: redact(options.instructions, known) },
        {
          role: "system",
          content: `Facts (JSON): ${JSON.stringify(redactValue(options.facts, known))}`,
        },
        ...(options.history ?? []).map((turn): ChatCompletionMessageParam =>
          turn.role === "assistant"
            ? { role: "assistant", content: redact(turn.content, known) }
            : { role: "user", content: redact(turn.content, known) }
        ),
        { role: "user", content: redact(options.message, known) },
      ];
    } catch (error) {
      return unbuildable(purpose, error);
    }
    const admission = await admit({
      purpose,
      caller,
      caseId: options.caseId ?? null,
      customerId: options.customerId ?? null,
      prompt: (settings) => ({
        hashed: JSON.stringify({ model: settings.model, stream: true, messages }),
        messages,
      }),
      cacheSeconds: () => null,
    });
    if (admission.kind === "refused") return admission.fallback;
    if (admission.kind === "hit") throw new Error("unreachable: chat answers are not cached");
    const { requestId, settings } = admission;
    const timeoutMs = cfg().AI_TIMEOUT_MS;
    const promptChars = messages.map((m) => typeof m.content === "string" ? m.content : "").join(
      "",
    );
    const started = performance.now();
    const controller = new AbortController();

    let stream;
    try {
      stream = await openai().chat.completions.create({
        model: settings.model,
        messages,
        stream: true,
        stream_options: { include_usage: true },
        max_completion_tokens: settings.maxOutputTokens,
      }, { timeout: timeoutMs, maxRetries: 0, signal: controller.signal });
    } catch (error) {
      const outcome: Outcome = isTimeout(error) ? "timeout" : "error";
      await settle(requestId, {
        outcome,
        tokensIn: 0,
        tokensOut: 0,
        latencyMs: performance.now() - started,
        attempts: 1,
        response: describeError(error),
      }, purpose);
      return { source: "rules", reason: fallbackFor(outcome), requestId };
    }

    let resolveResult!: (outcome: ChatOutcome) => void;
    const result = new Promise<ChatOutcome>((resolve) => (resolveResult = resolve));
    const source = stream;

    async function* deltas(): AsyncGenerator<string, void, undefined> {
      let text = "";
      let held = "";
      let refusal = "";
      let finish: string | null = null;
      let usage: { prompt_tokens: number; completion_tokens: number } | null = null;
      let outcome: Outcome | null = null;
      let failure: unknown = null;
      let timedOut = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          timedOut = true;
          controller.abort();
        }, timeoutMs);
      };
      try {
        arm();
        for await (const chunk of source) {
          arm();
          if (chunk.usage) usage = chunk.usage;
          const choice = chunk.choices[0];
          if (!choice) continue;
          if (choice.delta?.refusal) refusal += choice.delta.refusal;
          if (choice.finish_reason) finish = choice.finish_reason;
          let piece = choice.delta?.content;
          if (piece && !refusal) {
            // A surrogate pair cut between two pieces is joined; a lone half becomes U+FFFD.
            piece = held + piece;
            held = "";
            const last = piece.charCodeAt(piece.length - 1);
            if (last >= 0xD800 && last <= 0xDBFF) {
              held = piece.slice(-1);
              piece = piece.slice(0, -1);
            }
            piece = wellFormed(piece);
            if (piece) {
              text += piece;
              yield piece;
            }
          }
        }
        if (timedOut) {
          // Our idle timer aborted the stream: the SDK ends the iteration quietly when its
          // signal aborts, so the loop ends as if the answer were complete. It is not.
          outcome = "timeout";
        } else {
          if (held) {
            text += "\uFFFD";
            yield "\uFFFD";
          }
          outcome = refusal || finish === "content_filter"
            ? "refused"
            : finish === "length"
            ? "truncated"
            : text.length > 0
            ? "ok"
            : "invalid";
        }
      } catch (error) {
        failure = error;
        outcome = timedOut || isTimeout(error) ? "timeout" : "error";
      } finally {
        clearTimeout(timer);
        if (outcome === null) {
          // The reader stopped early (the client went away): stop the model too.
          controller.abort();
          outcome = "error";
          failure = new Error("the reader stopped before the end");
        }
        await settle(requestId, {
          outcome,
          // Without the usage chunk (cut off), what was sent and received, estimated.
          tokensIn: usage?.prompt_tokens ?? Math.ceil(promptChars.length / 4),
          tokensOut: usage?.completion_tokens ?? Math.ceil((text + refusal).length / 4),
          latencyMs: performance.now() - started,
          attempts: 1,
          response: outcome === "ok" ? { content: text.slice(0, keptChars * 4) } : {
            ...(failure ? describeError(failure) : {}),
            finish_reason: finish,
            content: text.slice(0, keptChars),
            refusal: refusal || null,
          },
        }, purpose);
        resolveResult(
          outcome === "ok"
            ? { source: "model", requestId, text }
            : { source: "rules", reason: fallbackFor(outcome), requestId },
        );
      }
    }

    return { source: "model", requestId, deltas: deltas(), result };
  }

  return { askStructured, streamChat };
}

let defaultAssistant: Assistant | undefined;

function assistant(): Assistant {
  defaultAssistant ??= createAssistant();
  return defaultAssistant;
}

/**
 * Asks the model for a structured answer (`schema`, OpenAI strict json_schema) from `facts`, under
 * the guard rails: the flag, the key, the cache, the rate limit and budgets (private.ai_admit),
 * one retry of an invalid answer, the timeout. Resolves to `{ source: "model" | "cache", value,
 * requestId }` or `{ source: "rules", reason, retryAfterSeconds?, requestId? }`; never rejects
 * for the model's failures, bad AI settings, a schema OpenAI cannot express or facts that are not
 * JSON (those are rules / unavailable, logged as errors); only when the database is unreachable
 * (DatabaseUnavailable, a 503) or `claims` has no `sub`. Every ai_requests row it opens is
 * settled.
 */
export function askStructured<T>(options: AskStructuredOptions<T>): Promise<AiAnswer<T>> {
  return assistant().askStructured(options);
}

/**
 * Starts a streamed chat answer (`stream: true` with usage) under the same guard rails (no cache,
 * no retry). Resolves to a ChatStream, whose `deltas` yield the answer's text and whose `result`
 * says how it ended, or to a fallback before any call (disabled, not_configured, rate_limited,
 * over_budget, or the call refused at once: unavailable / timeout; unavailable too when the
 * request cannot be built or admitted, as askStructured). Never rejects but as askStructured.
 * The deltas are well-formed Unicode. Iterate `deltas` to its end or break out of it: that
 * settles the row.
 */
export function streamChat(options: StreamChatOptions): Promise<ChatReply> {
  return assistant().streamChat(options);
}
