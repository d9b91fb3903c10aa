// OpenAI chat completions, as the sandbox plays them (VENDORS.md §5): POST
// /openai/v1/chat/completions with `Authorization: Bearer sk-…` → `chat.completion` JSON, or
// `chat.completion.chunk` server-sent events ending in `data: [DONE]` when `stream: true`.
// Answers are derived from a hash of the messages (the same prompt, the same answer): a valid
// instance of a strict `json_schema` response format, or a short text that echoes nothing.
// Errors {error:{message, type, param, code}}; x-request-id and x-ratelimit-* on every answer.
// Faults (POST /_control/openai): the shared ones (outage → 500, latencyMs, errorRate,
// rateLimitPerSecond, failNext) plus OpenAI's own switches, see `OpenaiSwitches`.

import { bearer, json, sameSecret } from "./http.ts";
import { randomHex } from "./ids.ts";
import { schemaInstance, strictSchemaProblem } from "./openai_schema.ts";
import { sleep, type VendorState } from "./state.ts";
import type { SandboxContext } from "./types.ts";

/**
 * OpenAI's own faults, set by `POST /_control/openai` beside the shared ones and cleared by a
 * reset. Each also exists for one request as a `failNext` code: `rate_limit_exceeded`,
 * `insufficient_quota`, `server_error`, `malformed`, `malformed_schema`, `refusal`, `truncated`.
 */
export interface OpenaiSwitches {
  /** Every completion answered 429 `rate_limit_exceeded` with `retry-after`. */
  rateLimited: boolean;
  /** The `retry-after` of those 429s, in seconds (also sent as `retry-after-ms`). */
  retryAfterSeconds: number;
  /** Every completion answered 429 `insufficient_quota` with `x-should-retry: false`. */
  insufficientQuota: boolean;
  /** `"json"`: content that is not JSON; `"schema"`: JSON that breaks the schema. */
  malformed: false | "json" | "schema";
  /** Content null and `message.refusal` a sentence. */
  refusal: boolean;
  /** `finish_reason: "length"` with the content cut in half (a cut JSON string). */
  truncated: boolean;
}

/** The switches a vendor starts with and returns to on reset: all off. */
function defaultSwitches(): OpenaiSwitches {
  return {
    rateLimited: false,
    retryAfterSeconds: 1,
    insufficientQuota: false,
    malformed: false,
    refusal: false,
    truncated: false,
  };
}

/** How one answer goes wrong, from a switch or a failNext. */
type AnswerFault = "malformed" | "malformed_schema" | "refusal" | "truncated" | null;

/** The requests-per-minute and tokens-per-minute shown in x-ratelimit-* when none is set. */
const requestLimit = 5000;
const tokenLimit = 4_000_000;
const refusalText = "I'm sorry, but I can't help with that request.";
const roles = ["system", "assistant", "user", "function", "tool", "developer"];
const organization = "user-py360sandbox";

/** An OpenAI error body. */
function openaiError(
  status: number,
  message: string,
  type: string,
  code: string | null,
  param: string | null = null,
  headers: Record<string, string> = {},
): Response {
  return json({ error: { message, type, param, code } }, status, headers);
}

/** A chat message's text: a string, or the text parts of an array of content parts. */
function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((part) =>
    typeof part === "object" && part !== null && typeof part.text === "string" ? part.text : ""
  ).join("");
}

/** Tokens as the sandbox counts them: a quarter of the characters, rounded up. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** A duration as OpenAI writes x-ratelimit-reset-*: `120ms`, `1s`, `8.64s`, `6m0s`. */
function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(2))}s`;
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}

/** `chatcmpl-` + 29 alphanumerics, as completion ids look. */
function completionId(): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.getRandomValues(new Uint8Array(29));
  return `chatcmpl-${Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("")}`;
}

/** SHA-256 of text, hex. */
async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The parts of a chat completions body the sandbox reads (validated by `validate`). */
interface ChatRequest {
  model: string;
  messages: Array<{ role: string; content: unknown }>;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  max_completion_tokens?: number;
  max_tokens?: number;
  response_format?:
    | { type: "text" }
    | { type: "json_object" }
    | {
      type: "json_schema";
      json_schema: { name: string; schema?: Record<string, unknown>; strict?: boolean | null };
    };
}

/** A 400 of the body's validation. */
interface Invalid {
  message: string;
  param: string | null;
  code: string | null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "number") return Number.isInteger(value) ? "an integer" : "a decimal";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

/** OpenAI's validation of a chat completions body, with its messages; null when valid. */
function validate(body: Record<string, unknown>): Invalid | null {
  const missing = (param: string) => ({
    message: `Missing required parameter: '${param}'.`,
    param,
    code: "missing_required_parameter",
  });
  const wrongType = (param: string, expected: string, value: unknown) => ({
    message: `Invalid type for '${param}': expected ${expected}, but got ${
      typeName(value)
    } instead.`,
    param,
    code: "invalid_type",
  });
  if (body.model === undefined) return missing("model");
  if (typeof body.model !== "string") return wrongType("model", "a string", body.model);
  if (body.messages === undefined) return missing("messages");
  if (!Array.isArray(body.messages)) {
    return wrongType("messages", "an array of objects", body.messages);
  }
  if (body.messages.length === 0) {
    return {
      message:
        "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      param: "messages",
      code: "empty_array",
    };
  }
  for (const [i, message] of body.messages.entries()) {
    const at = `messages[${i}]`;
    if (!isObject(message)) return wrongType(at, "an object", message);
    if (message.role === undefined) return missing(`${at}.role`);
    if (!roles.includes(message.role as string)) {
      return {
        message: `Invalid value: '${message.role}'. Supported values are: 'system', 'assistant', ` +
          "'user', 'function', 'tool', and 'developer'.",
        param: `${at}.role`,
        code: "invalid_value",
      };
    }
    const content = message.content;
    const nullable = message.role === "assistant";
    if (content === undefined && !nullable) return missing(`${at}.content`);
    if (
      !(typeof content === "string" || Array.isArray(content) ||
        (nullable && (content === null || content === undefined)))
    ) {
      return wrongType(`${at}.content`, "one of a string or array of objects", content);
    }
  }
  for (const name of ["max_completion_tokens", "max_tokens"]) {
    const value = body[name];
    if (value === undefined || value === null) continue;
    if (typeof value !== "number" || !Number.isInteger(value)) {
      return wrongType(name, "an integer", value);
    }
    if (value < 1) {
      return {
        message:
          `Invalid '${name}': integer below minimum value. Expected a value >= 1, but got ${value} instead.`,
        param: name,
        code: "integer_below_min_value",
      };
    }
  }
  const temperature = body.temperature;
  if (temperature !== undefined && temperature !== null) {
    if (typeof temperature !== "number") return wrongType("temperature", "a decimal", temperature);
    if (temperature < 0 || temperature > 2) {
      return {
        message: `Invalid 'temperature': decimal ${
          temperature < 0 ? "below minimum" : "above maximum"
        } value. Expected a value ${
          temperature < 0 ? ">= 0" : "<= 2"
        }, but got ${temperature} instead.`,
        param: "temperature",
        code: temperature < 0 ? "decimal_below_min_value" : "decimal_above_max_value",
      };
    }
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== "boolean") {
    return wrongType("stream", "a boolean", body.stream);
  }
  if (body.stream_options !== undefined && body.stream_options !== null && body.stream !== true) {
    return {
      message: "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
      param: "stream_options",
      code: null,
    };
  }
  const format = body.response_format;
  if (format !== undefined && format !== null) {
    if (!isObject(format)) return wrongType("response_format", "an object", format);
    if (!["text", "json_object", "json_schema"].includes(format.type as string)) {
      return {
        message: `Invalid value: '${format.type}'. Supported values are: 'json_object', ` +
          "'json_schema', and 'text'.",
        param: "response_format.type",
        code: "invalid_value",
      };
    }
    if (format.type === "json_object") {
      const mentionsJson = (body.messages as Array<{ content: unknown }>).some((m) =>
        /json/i.test(contentText(m.content))
      );
      if (!mentionsJson) {
        return {
          message: "'messages' must contain the word 'json' in some form, to use " +
            "'response_format' of type 'json_object'.",
          param: "messages",
          code: null,
        };
      }
    }
    if (format.type === "json_schema") {
      const spec = format.json_schema;
      if (spec === undefined) return missing("response_format.json_schema");
      if (!isObject(spec)) return wrongType("response_format.json_schema", "an object", spec);
      if (spec.name === undefined) return missing("response_format.json_schema.name");
      if (typeof spec.name !== "string" || !/^[a-zA-Z0-9_-]{1,64}$/.test(spec.name)) {
        return {
          message: "Invalid 'response_format.json_schema.name': string does not match pattern. " +
            "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$' of at most 64 characters.",
          param: "response_format.json_schema.name",
          code: "invalid_value",
        };
      }
      if (spec.schema !== undefined && !isObject(spec.schema)) {
        return wrongType("response_format.json_schema.schema", "an object", spec.schema);
      }
      if (spec.strict === true) {
        const problem = strictSchemaProblem(spec.schema ?? {}, spec.name);
        if (problem) return { message: problem, param: "response_format", code: null };
      }
    }
  }
  return null;
}

/** One answer: the message's content or refusal, its finish reason and its usage. */
interface Answer {
  content: string | null;
  refusal: string | null;
  finishReason: "stop" | "length";
  usage: {
    prompt_tokens: number;
    completion_tokens: number;
    total_tokens: number;
    prompt_tokens_details: { cached_tokens: number; audio_tokens: number };
    completion_tokens_details: {
      reasoning_tokens: number;
      audio_tokens: number;
      accepted_prediction_tokens: number;
      rejected_prediction_tokens: number;
    };
  };
}

/** The OpenAI vendor: chat completions (JSON and streamed) with faults. */
export class OpenaiVendor {
  switches: OpenaiSwitches = defaultSwitches();

  constructor(private ctx: SandboxContext, private state: VendorState) {}

  /** Back to no switches (the shared faults and logs are reset with the state). */
  reset(): void {
    this.switches = defaultSwitches();
  }

  /**
   * Applies the OpenAI switches of a `POST /_control/openai` body (only the fields present
   * change); returns an error message for a field out of range, or null.
   */
  applySwitches(body: Record<string, unknown>): string | null {
    const next = { ...this.switches };
    for (const name of ["rateLimited", "insufficientQuota", "refusal", "truncated"] as const) {
      if (!(name in body)) continue;
      if (typeof body[name] !== "boolean") return `${name} must be a boolean`;
      next[name] = body[name] as boolean;
    }
    if ("retryAfterSeconds" in body) {
      const value = body.retryAfterSeconds;
      if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > 3600) {
        return "retryAfterSeconds must be a number from 0 to 3600";
      }
      next.retryAfterSeconds = value;
    }
    if ("malformed" in body) {
      const value = body.malformed;
      if (value === false || value === true || value === "json" || value === "schema") {
        next.malformed = value === true ? "json" : value;
      } else return 'malformed must be false, true, "json" or "schema"';
    }
    this.switches = next;
    return null;
  }

  /** The headers of every answer: x-request-id, OpenAI's own and the x-ratelimit-* ones. */
  private headers(requestId: string, promptTokens = 0): Record<string, string> {
    const perSecond = this.state.faults.rateLimitPerSecond;
    const limit = perSecond === null ? requestLimit : perSecond * 60;
    return {
      "x-request-id": requestId,
      "openai-organization": organization,
      "openai-version": "2020-10-01",
      "openai-processing-ms": String(this.state.faults.latencyMs + 1),
      "x-ratelimit-limit-requests": String(limit),
      "x-ratelimit-remaining-requests": String(Math.max(0, limit - 1)),
      "x-ratelimit-reset-requests": duration(60_000 / limit),
      "x-ratelimit-limit-tokens": String(tokenLimit),
      "x-ratelimit-remaining-tokens": String(Math.max(0, tokenLimit - promptTokens)),
      "x-ratelimit-reset-tokens": duration((promptTokens / tokenLimit) * 60_000),
    };
  }

  private rateLimited(requestId: string, model: string, retryAfterSeconds: number): Response {
    const headers: Record<string, string> = {
      ...this.headers(requestId),
      "x-ratelimit-remaining-requests": "0",
      "retry-after": String(Math.ceil(retryAfterSeconds)),
      "retry-after-ms": String(Math.round(retryAfterSeconds * 1000)),
    };
    return openaiError(
      429,
      `Rate limit reached for ${model} in organization org-py360sandbox on requests per min ` +
        `(RPM): Limit ${headers["x-ratelimit-limit-requests"]}, Used ` +
        `${headers["x-ratelimit-limit-requests"]}, Requested 1. Please try again in ` +
        `${
          duration(retryAfterSeconds * 1000)
        }. Visit https://platform.openai.com/account/rate-limits to learn more.`,
      "requests",
      "rate_limit_exceeded",
      null,
      headers,
    );
  }

  private insufficientQuota(requestId: string): Response {
    return openaiError(
      429,
      "You exceeded your current quota, please check your plan and billing details. For more " +
        "information on this error, read the docs: " +
        "https://platform.openai.com/docs/guides/error-codes/api-errors.",
      "insufficient_quota",
      "insufficient_quota",
      null,
      { ...this.headers(requestId), "x-should-retry": "false" },
    );
  }

  private serverError(requestId: string, status = 500): Response {
    return openaiError(
      status,
      status === 503
        ? "The server is overloaded or not ready yet."
        : "The server had an error while processing your request. Sorry about that!",
      "server_error",
      null,
      null,
      this.headers(requestId),
    );
  }

  /** Handles a request under /openai; `path` is what follows the prefix. */
  async handle(request: Request, path: string): Promise<Response> {
    const requestId = `req_${randomHex(32)}`;
    const key = bearer(request.headers.get("authorization"));
    if (!key || !sameSecret(key, this.ctx.credentials.openaiApiKey)) {
      const message = key
        ? `Incorrect API key provided: ${key.slice(0, 8)}${"*".repeat(8)}${
          key.length > 16 ? key.slice(-4) : ""
        }. You can find your API key at https://platform.openai.com/account/api-keys.`
        : "You didn't provide an API key. You need to provide your API key in an Authorization " +
          "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).";
      return openaiError(401, message, "invalid_request_error", "invalid_api_key", null, {
        "x-request-id": requestId,
      });
    }
    if (path !== "/v1/chat/completions" || request.method !== "POST") {
      return openaiError(
        404,
        `Invalid URL (${request.method} ${path})`,
        "invalid_request_error",
        null,
        null,
        { "x-request-id": requestId },
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(await request.text());
    } catch {
      return openaiError(
        400,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't " +
          "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what " +
          "was sent was not valid JSON.)",
        "invalid_request_error",
        null,
        null,
        this.headers(requestId),
      );
    }
    if (!isObject(body)) {
      return openaiError(
        400,
        `Invalid type for request body: expected an object, but got ${typeName(body)} instead.`,
        "invalid_request_error",
        "invalid_type",
        null,
        this.headers(requestId),
      );
    }
    const record = {
      id: requestId,
      receivedAt: new Date().toISOString(),
      to: typeof body.model === "string" ? body.model : "",
      body: Array.isArray(body.messages)
        ? body.messages.map((m) => isObject(m) ? contentText(m.content) : "").join("\n")
        : "",
      template: isObject(body.response_format) && isObject(body.response_format.json_schema) &&
          typeof body.response_format.json_schema.name === "string"
        ? body.response_format.json_schema.name
        : undefined,
      params: body,
    };
    this.state.requests.push(record);

    const faults = this.state.faults;
    await sleep(faults.latencyMs, request.signal);
    if (request.signal.aborted) return this.serverError(requestId);
    if (faults.outage) return this.serverError(requestId);
    const rate = this.state.checkRate();
    const model = typeof body.model === "string" ? body.model : "";
    if (rate.limited) return this.rateLimited(requestId, model, 1);

    const invalid = validate(body);
    if (invalid) {
      return openaiError(
        400,
        invalid.message,
        "invalid_request_error",
        invalid.code,
        invalid.param,
        this.headers(requestId),
      );
    }
    if (!/^(gpt-|o\d|chatgpt-|ft:)/.test(model)) {
      return openaiError(
        404,
        `The model \`${model}\` does not exist or you do not have access to it.`,
        "invalid_request_error",
        "model_not_found",
        null,
        this.headers(requestId),
      );
    }
    const chat = body as unknown as ChatRequest;

    const fail = this.state.takeFailNext();
    let fault: AnswerFault = null;
    if (fail) {
      const code = String(fail.code);
      if (code === "rate_limit_exceeded") {
        return this.rateLimited(requestId, model, this.switches.retryAfterSeconds);
      }
      if (code === "insufficient_quota") return this.insufficientQuota(requestId);
      if (["malformed", "malformed_schema", "refusal", "truncated"].includes(code)) {
        fault = code as AnswerFault;
      } else {
        const status = fail.status ?? (Number(fail.code) || 500);
        if (status >= 500) return this.serverError(requestId, status);
        return openaiError(
          status,
          `Sandbox failure ${code}.`,
          "invalid_request_error",
          code,
          null,
          this.headers(requestId),
        );
      }
    }
    if (this.state.randomFailure()) return this.serverError(requestId);
    if (!fail) {
      if (this.switches.insufficientQuota) return this.insufficientQuota(requestId);
      if (this.switches.rateLimited) {
        return this.rateLimited(requestId, model, this.switches.retryAfterSeconds);
      }
      fault = this.switches.refusal
        ? "refusal"
        : this.switches.truncated
        ? "truncated"
        : this.switches.malformed === "json"
        ? "malformed"
        : this.switches.malformed === "schema"
        ? "malformed_schema"
        : null;
    }

    const answer = await this.answer(chat, fault);
    const id = completionId();
    record.id = id;
    const created = Math.floor(Date.now() / 1000);
    const headers = this.headers(requestId, answer.usage.prompt_tokens);
    if (chat.stream === true) {
      return this.stream(id, created, chat, answer, headers, request.signal);
    }
    return json(
      {
        id,
        object: "chat.completion",
        created,
        model: chat.model,
        choices: [{
          index: 0,
          message: {
            role: "assistant",
            content: answer.content,
            refusal: answer.refusal,
            annotations: [],
          },
          logprobs: null,
          finish_reason: answer.finishReason,
        }],
        usage: answer.usage,
        service_tier: "default",
        system_fingerprint: "fp_5d58a6052a",
      },
      200,
      headers,
    );
  }

  /** The answer to a valid request: derived from the hash of its messages. */
  private async answer(chat: ChatRequest, fault: AnswerFault): Promise<Answer> {
    const promptText = chat.messages.map((m) => contentText(m.content)).join("");
    const hash = await sha256Hex(JSON.stringify(chat.messages.map((m) => [m.role, m.content])));
    const format = chat.response_format;
    let content: string;
    if (format?.type === "json_schema") {
      const value = schemaInstance(format.json_schema.schema ?? { type: "object" }, hash);
      content = JSON.stringify(value);
      if (fault === "malformed_schema") {
        content = JSON.stringify({ unexpected: `Sandbox answer ${hash.slice(0, 8)}` });
      }
    } else if (format?.type === "json_object") {
      content = JSON.stringify({ answer: `Sandbox answer ${hash.slice(0, 8)}` });
      if (fault === "malformed_schema") content = JSON.stringify([hash.slice(0, 8)]);
    } else {
      content = `Sandbox answer ${hash.slice(0, 8)}.`;
    }
    if (fault === "malformed") content = `Sure! Here is the JSON: ${content.slice(0, -1)},`;
    let refusal: string | null = null;
    let finishReason: Answer["finishReason"] = "stop";
    const max = chat.max_completion_tokens ?? chat.max_tokens;
    if (fault === "truncated") {
      content = content.slice(0, Math.max(1, Math.floor(content.length / 2)));
      finishReason = "length";
    } else if (max !== undefined && max !== null && estimateTokens(content) > max) {
      content = content.slice(0, max * 4);
      finishReason = "length";
    }
    let completionText = content;
    let answerContent: string | null = content;
    if (fault === "refusal") {
      refusal = refusalText;
      answerContent = null;
      completionText = refusalText;
      finishReason = "stop";
    }
    const promptTokens = estimateTokens(promptText);
    const completionTokens = estimateTokens(completionText);
    return {
      content: answerContent,
      refusal,
      finishReason,
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: {
          reasoning_tokens: 0,
          audio_tokens: 0,
          accepted_prediction_tokens: 0,
          rejected_prediction_tokens: 0,
        },
      },
    };
  }

  /**
   * The answer as server-sent events: a first chunk with the role, the content (or refusal) in
   * pieces of up to 16 characters, a chunk with the finish reason, the usage chunk (empty
   * choices) when `stream_options.include_usage`, then `data: [DONE]`.
   */
  private stream(
    id: string,
    created: number,
    chat: ChatRequest,
    answer: Answer,
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Response {
    const includeUsage = chat.stream_options?.include_usage === true;
    const chunk = (choices: unknown[], usage?: unknown) => ({
      id,
      object: "chat.completion.chunk",
      created,
      model: chat.model,
      service_tier: "default",
      system_fingerprint: "fp_5d58a6052a",
      choices,
      ...(includeUsage ? { usage: usage ?? null } : {}),
    });
    const delta = (d: Record<string, unknown>, finish: string | null = null) => ({
      index: 0,
      delta: d,
      logprobs: null,
      finish_reason: finish,
    });
    const events: unknown[] = [chunk([
      delta(
        answer.refusal !== null
          ? { role: "assistant", refusal: "" }
          : { role: "assistant", content: "", refusal: null },
      ),
    ])];
    const text = answer.refusal ?? answer.content ?? "";
    const field = answer.refusal !== null ? "refusal" : "content";
    for (let i = 0; i < text.length; i += 16) {
      events.push(chunk([delta({ [field]: text.slice(i, i + 16) })]));
    }
    events.push(chunk([delta({}, answer.finishReason)]));
    if (includeUsage) events.push(chunk([], answer.usage));
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const event of events) {
          if (signal.aborted) break;
          controller.enqueue(encoder.encode(`data: ${JSON.stringify(event)}\n\n`));
        }
        controller.enqueue(encoder.encode("data: [DONE]\n\n"));
        controller.close();
      },
    });
    return new Response(body, {
      status: 200,
      headers: {
        ...headers,
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
      },
    });
  }
}
