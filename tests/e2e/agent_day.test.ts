// Journey 7: an agent's day through the API. Overnight pg_cron's jobs open a high-value motor
// renewal, score its lapse risk and, at 15 days before expiry, open a call task and send the
// reminder. Then Kavya, with her token: her task list; the AI's risk explanation and renewal
// options (the sandbox plays OpenAI); a one-off email that reaches the sandbox's email vendor and comes
// back delivered; the case moved to contacted (in the audit log and the policy's timeline); a
// document uploaded whose bytes the object store holds and hands back; the task closed. And what
// she may not do, and what another agent may not do with her case.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  addDays,
  adminSql,
  api,
  functionsUrl,
  istTime,
  istToday,
  journey,
  json,
  ordinaryVendorDay,
  runCadence,
  runDailyJobs,
  sandboxGet,
  scoreLapseRisk,
  tokenFor,
} from "./_stack.ts";
import {
  caseOfPolicy,
  emailRequestsFor,
  feedPolicy,
  messagesOfCase,
  waitDelivered,
} from "./_desk_journeys.ts";

const kavya = "kavya.agent@py360.test";
const manager = "blr.manager@py360.test";
const otherAgent = "gopal.agent@py360.test";

/** A problem+json answer with this status; returns its body. */
async function problem(response: Response, status: number) {
  const body = await json(response, status);
  assert.equal(response.headers.get("content-type"), "application/problem+json");
  assert.equal(body.status, status);
  return body;
}

/** A prompt the sandbox's OpenAI received (its messages' text joined). */
interface Prompt {
  body: string;
}

/** One entry of GET /policies/{id}/timeline. */
interface TimelineEntry {
  at: string;
  kind: string;
  actor: { type: string; id: string | null; name: string | null };
  summary: string;
  why: string | null;
  refs: Record<string, unknown>;
}

/** A task as GET /tasks lists it. */
interface Task {
  id: string;
  case_id: string;
  case_number: string;
  customer_name: string;
  assignee_id: string;
  kind: string;
  status: string;
  outcome: string | null;
  due_at: string;
  sla_due_at: string;
  escalation_level: number;
}

/** `size` bytes of a PDF: its header, then random bytes. */
function pdf(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  crypto.getRandomValues(bytes);
  bytes.set(new TextEncoder().encode("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"));
  return bytes;
}

/** POST /documents as a browser's FormData sends it. */
function upload(
  token: string,
  fields: Record<string, string>,
  file: { bytes: Uint8Array<ArrayBuffer>; name: string; type: string },
): Promise<Response> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.set(name, value);
  form.set("file", new File([file.bytes], file.name, { type: file.type }));
  return api("/documents", { token, method: "POST", body: form });
}

journey(
  "agent's day: tasks, AI risk and options, a message, a stage change, a document",
  async (t) => {
    await ordinaryVendorDay();
    let caseId = "";
    // Expiry in 14 days: yesterday was the −15 day, when the cadence opened the call task.
    const today = istToday();
    const yesterday = addDays(today, -1);
    const expiry = addDays(today, 14);
    const premium = 6_000_000; // ₹60,000: a call task (CALL_TASK_MIN_PREMIUM_PAISE) and high priority
    const fed = await feedPolicy({
      agentEmail: kavya,
      productLine: "motor",
      premium,
      sumInsured: 80_000_000,
      endDate: expiry,
      ncbPercent: 25,
      label: "Agent Day",
    });
    const token = await tokenFor(kavya);
    const [{ id: kavyaId }] =
      await adminSql()`select id from public.profiles where email = ${kavya}`;
    const cadenceAt = istTime(yesterday, "11:00");
    let caseNumber = "";
    let taskId = "";
    let messageId = "";
    let documentId = "";
    const timeline = async (): Promise<TimelineEntry[]> =>
      (await json<{ entries: TimelineEntry[] }>(
        await api(`/policies/${fed.policyId}/timeline`, { token }),
      )).entries;

    await t.step(
      "overnight: the case opens, is scored, and the −15 call task and reminder come",
      async () => {
        await runDailyJobs(istTime(yesterday, "06:00"));
        const renewal = await caseOfPolicy(fed.policyId);
        assert.ok(renewal, "the case opened");
        caseId = renewal.id;
        caseNumber = renewal.case_number;
        assert.deepEqual(
          [renewal.stage, renewal.priority, renewal.due_date, renewal.assignee_email],
          ["new", "high", expiry, kavya],
        );
        assert.ok(await scoreLapseRisk(istTime(yesterday, "06:10")) >= 1);
        await runCadence(cadenceAt);
        const [task] = await adminSql()`
        select t.id, t.kind, t.status, t.due_at, t.sla_due_at, r.offset_days
          from public.tasks t join public.reminder_rules r on r.id = t.reminder_rule_id
         where t.case_id = ${caseId}`;
        assert.ok(task, "a call task");
        taskId = task.id;
        assert.deepEqual([task.kind, task.status, task.offset_days], ["call", "open", -15]);
        const reminders = await messagesOfCase(caseId);
        assert.deepEqual(reminders.map((m) => [m.template_code, m.channel]), [[
          "renewal_due",
          "email",
        ]]);
        await waitDelivered(reminders.map((m) => m.id), "the −15 reminder");
      },
    );

    await t.step(
      "her task list has the call; her manager's team list too; not another agent's",
      async () => {
        const mine = await json<{ data: Task[] }>(
          await api("/tasks?status=open&limit=200", { token }),
        );
        const task = mine.data.find((x) => x.id === taskId);
        assert.ok(task, "Kavya sees the task");
        assert.deepEqual(
          [task.case_id, task.case_number, task.customer_name, task.assignee_id, task.kind],
          [caseId, caseNumber, fed.customerName, kavyaId, "call"],
        );
        assert.deepEqual([task.status, task.escalation_level, task.outcome], ["open", 0, null]);
        assert.equal(Date.parse(task.due_at), cadenceAt.getTime());
        assert.equal(
          Date.parse(task.sla_due_at),
          cadenceAt.getTime() + 48 * 3600_000,
          "48 h SLA",
        );
        const team = async (email: string) =>
          (await json<{ data: Task[] }>(
            await api("/tasks?scope=team&limit=200", { token: await tokenFor(email) }),
          )).data.map((x) => x.id);
        assert.ok((await team(manager)).includes(taskId), "her manager sees it");
        assert.ok(!(await team(otherAgent)).includes(taskId), "another agent does not");

        const renewal = await json(await api(`/cases/${caseId}`, { token }));
        assert.equal(renewal.stage, "new");
        assert.equal(renewal.outstanding, premium);
        const [stored] = await adminSql()`
        select score from public.case_risk_scores where case_id = ${caseId}`;
        assert.equal((renewal.risk as { score: number }).score, stored.score, "scored overnight");
      },
    );

    await t.step("AI: the lapse risk explained, with the next best action", async () => {
      const before = (await sandboxGet<Prompt[]>("_inspect/openai/requests")).length;
      const answer = await json<{
        customer_id: string;
        cases: { case_id: string; days_to_expiry: number; risk: { score: number } | null }[];
        explanation: string;
        next_best_action: { case_id: string | null; action: string; text: string };
        source: string;
        ai_request_id: string | null;
      }>(await api("/ai/risk-assessment", { token, method: "POST", body: { case_id: caseId } }));
      assert.equal(answer.source, "model", "the sandbox's model answered");
      assert.equal(answer.customer_id, fed.customerId);
      assert.deepEqual(answer.cases.map((c) => [c.case_id, c.days_to_expiry]), [[caseId, 14]]);
      const [stored] = await adminSql()`
        select score from public.case_risk_scores where case_id = ${caseId}`;
      assert.equal(answer.cases[0].risk?.score, stored.score);
      assert.match(answer.explanation, /^Sandbox explanation /);
      assert.equal(answer.next_best_action.case_id, caseId);
      assert.ok(answer.next_best_action.text.length > 0);
      const prompts = await sandboxGet<Prompt[]>("_inspect/openai/requests");
      assert.equal(prompts.length, before + 1, "one model call");
      const [row] = await adminSql()`
        select purpose::text, outcome::text, case_id, caller from public.ai_requests
         where id = ${answer.ai_request_id}`;
      assert.deepEqual([row.purpose, row.outcome, row.case_id, row.caller], [
        "risk_assessment",
        "ok",
        caseId,
        kavyaId,
      ]);
    });

    await t.step("AI: renewal options, each with its reason and the facts it cites", async () => {
      const before = (await sandboxGet<Prompt[]>("_inspect/openai/requests")).length;
      const answer = await json<{
        customer_id: string;
        recommendations: {
          case_id: string;
          option: string;
          reason: string;
          cites: { fact: string; value: unknown }[];
        }[];
        source: string;
      }>(
        await api("/ai/policy-recommendations", {
          token,
          method: "POST",
          body: { case_id: caseId },
        }),
      );
      assert.equal(answer.source, "model");
      assert.equal(answer.customer_id, fed.customerId);
      assert.ok(answer.recommendations.length >= 1);
      const facts: Record<string, unknown> = {
        premium_paise: premium,
        sum_insured_paise: 80_000_000,
        ncb_percent: 25,
        days_to_expiry: 14,
        product_line: "motor",
        payment_frequency: "annual",
      };
      for (const r of answer.recommendations) {
        assert.equal(r.case_id, caseId);
        assert.ok(r.reason.length > 0 && r.cites.length >= 1, r.option);
        for (const cite of r.cites) {
          if (cite.fact in facts) assert.equal(cite.value, facts[cite.fact], cite.fact);
        }
      }
      assert.equal((await sandboxGet<Prompt[]>("_inspect/openai/requests")).length, before + 1);
      // Neither prompt carried the customer's name, phone or email.
      for (const prompt of await sandboxGet<Prompt[]>("_inspect/openai/requests")) {
        for (const personal of [fed.customerName, fed.phone, fed.email, fed.policyNumber]) {
          assert.ok(!prompt.body.includes(personal), "no personal data sent to the model");
        }
      }
    });

    await t.step(
      "a one-off email reaches the sandbox's email vendor and comes back delivered",
      async () => {
        const key = crypto.randomUUID();
        const request = {
          customer_id: fed.customerId,
          case_id: caseId,
          channel: "email",
          purpose: "service",
          subject: "Your motor renewal",
          body:
            "As we discussed, your renewal quote is ready; your 25% no-claim bonus is safe if " +
            "you renew before the policy expires.",
        };
        const send = () =>
          api("/messages", {
            token,
            method: "POST",
            body: request,
            headers: { "idempotency-key": key },
          });
        const sent = await json<{ message_id: string; status: string; summary: string }>(
          await send(),
          201,
        );
        assert.deepEqual([sent.status, sent.summary], ["queued", "Queued to go now."]);
        messageId = sent.message_id;
        await waitDelivered([messageId], "the one-off email");
        const { provider, requests: received } = await emailRequestsFor(messageId);
        assert.equal(received.length, 1);
        assert.equal(received[0].to, fed.email);
        assert.equal(received[0].subject, request.subject);
        assert.ok(received[0].body?.includes("your renewal quote is ready"));

        const listed = await json<{ data: Record<string, unknown>[] }>(
          await api(`/messages?case_id=${caseId}`, { token }),
        );
        const mine = listed.data.find((m) => m.id === messageId);
        assert.ok(mine, "in the case's messages");
        assert.deepEqual(
          [mine.status, mine.provider, mine.provider_message_id, mine.recipient],
          ["delivered", provider, received[0].id, fed.email],
        );
        assert.equal((mine.created_by as { id: string }).id, kavyaId);
        assert.ok(mine.delivered_at);

        // The same key again: the same message, not a second email.
        const again = await json<{ message_id: string }>(await send(), 200);
        assert.equal(again.message_id, messageId);
        assert.equal((await emailRequestsFor(messageId)).requests.length, 1);
        assert.equal((await messagesOfCase(caseId)).length, 2, "the reminder and this one");
      },
    );

    await t.step("she moves the case to contacted: audited, in the timeline", async () => {
      const moved = await json(
        await api(`/cases/${caseId}`, { token, method: "PATCH", body: { stage: "contacted" } }),
      );
      assert.equal(moved.stage, "contacted");
      const [audit] = await adminSql()`
        select id, actor_id, actor_role, request_id from public.audit_log
         where table_name = 'renewal_cases' and row_id = ${caseId} and action = 'update'
           and old_row ->> 'stage' = 'new' and new_row ->> 'stage' = 'contacted'`;
      assert.ok(audit, "the change is in the audit log");
      assert.deepEqual([audit.actor_id, audit.actor_role], [kavyaId, "authenticated"]);
      assert.ok(audit.request_id, "with the API request's id");
      const entry = (await timeline()).find((e) =>
        e.kind === "case.changed" && e.summary.includes("stage new → contacted")
      );
      assert.ok(entry, "the timeline tells it");
      assert.deepEqual([entry.actor.type, entry.actor.id], ["user", kavyaId]);
      assert.equal(String(entry.refs.audit_id), String(audit.id));
      assert.equal(entry.refs.request_id, audit.request_id);

      // Renewed while ₹60,000 is owed: the renewal rules refuse it, and nothing changes.
      await problem(
        await api(`/cases/${caseId}`, { token, method: "PATCH", body: { stage: "renewed" } }),
        409,
      );
      assert.equal((await caseOfPolicy(fed.policyId))?.stage, "contacted");
    });

    await t.step("she uploads the policy copy: the bytes are in the object store", async () => {
      const bytes = pdf(6_000);
      const stored = await json(
        await upload(token, { kind: "policy_copy", case_id: caseId }, {
          bytes,
          name: "policy-schedule.pdf",
          type: "application/pdf",
        }),
        201,
      );
      documentId = stored.id as string;
      assert.deepEqual(
        [stored.case_id, stored.customer_id, stored.policy_id, stored.status, stored.uploaded_by],
        [caseId, fed.customerId, fed.policyId, "stored", kavyaId],
      );
      assert.equal(stored.size_bytes, 6_000);
      assert.equal(stored.checksum_sha256, createHash("sha256").update(bytes).digest("hex"));

      const link = await json<{ url: string; expires_at: string }>(
        await api(`/documents/${documentId}/url`, { token }),
      );
      assert.ok(!link.url.startsWith(functionsUrl), "a URL of the object store, not the API");
      assert.ok(Date.parse(link.expires_at) > Date.now());
      const download = await fetch(link.url);
      assert.equal(download.status, 200);
      assert.deepEqual(new Uint8Array(await download.arrayBuffer()), bytes, "the same bytes");

      const listed = await json<{ data: { id: string }[] }>(
        await api(`/documents?case_id=${caseId}`, { token }),
      );
      assert.deepEqual(listed.data.map((d) => d.id), [documentId]);
      assert.ok(
        (await timeline()).some((e) =>
          e.kind === "document.added" && e.refs.document_id === documentId
        ),
        "the timeline tells it",
      );

      // Not a PDF or an image: refused, nothing stored. Deleting is for admins.
      await problem(
        await upload(token, { kind: "other", case_id: caseId }, {
          bytes: new TextEncoder().encode("just some notes\n") as Uint8Array<ArrayBuffer>,
          name: "notes.txt",
          type: "text/plain",
        }),
        415,
      );
      await problem(await api(`/documents/${documentId}`, { token, method: "DELETE" }), 403);
      const [{ n }] = await adminSql()`
        select count(*)::integer as n from public.documents where case_id = ${caseId}`;
      assert.equal(n, 1);
    });

    await t.step("she closes the task with its outcome", async () => {
      const done = await json<Task>(
        await api(`/tasks/${taskId}`, {
          token,
          method: "PATCH",
          body: { status: "done", outcome: "Called: renewing this week, quote sent by email" },
        }),
      );
      assert.deepEqual([done.status, done.outcome], [
        "done",
        "Called: renewing this week, quote sent by email",
      ]);
      const open = await json<{ data: Task[] }>(
        await api("/tasks?status=open&limit=200", { token }),
      );
      assert.ok(!open.data.some((x) => x.id === taskId), "off her open list");
      const entry = (await timeline()).find((e) => e.kind === "task.done");
      assert.ok(entry, "the timeline tells it");
      assert.equal(entry.why, "Called: renewing this week, quote sent by email");
    });

    await t.step(
      "another agent may not read, change, message, ask about or file to her case",
      async () => {
        const other = await tokenFor(otherAgent);
        const before = {
          messages: (await messagesOfCase(caseId)).length,
          prompts: (await sandboxGet<Prompt[]>("_inspect/openai/requests")).length,
        };
        await problem(await api(`/cases/${caseId}`, { token: other }), 404);
        await problem(
          await api(`/cases/${caseId}`, {
            token: other,
            method: "PATCH",
            body: { stage: "quoted" },
          }),
          404,
        );
        await problem(
          await api(`/policies/${fed.policyId}/timeline`, { token: other }),
          404,
        );
        await problem(
          await api("/messages", {
            token: other,
            method: "POST",
            body: {
              customer_id: fed.customerId,
              case_id: caseId,
              channel: "email",
              purpose: "service",
              subject: "Hello",
              body: "Hello from someone else",
            },
            headers: { "idempotency-key": crypto.randomUUID() },
          }),
          404,
        );
        for (const path of ["/ai/risk-assessment", "/ai/policy-recommendations"]) {
          await problem(
            await api(path, { token: other, method: "POST", body: { case_id: caseId } }),
            404,
          );
        }
        await problem(
          await upload(other, { kind: "kyc", case_id: caseId }, {
            bytes: pdf(1_000),
            name: "kyc.pdf",
            type: "application/pdf",
          }),
          404,
        );
        await problem(await api(`/documents/${documentId}`, { token: other }), 404);
        await problem(await api(`/documents/${documentId}/url`, { token: other }), 404);
        await problem(
          await api(`/tasks/${taskId}`, {
            token: other,
            method: "PATCH",
            body: { status: "done", outcome: "Not mine to close" },
          }),
          404,
        );
        // Nothing changed.
        assert.equal((await caseOfPolicy(fed.policyId))?.stage, "contacted");
        assert.equal((await messagesOfCase(caseId)).length, before.messages);
        assert.equal(
          (await sandboxGet<Prompt[]>("_inspect/openai/requests")).length,
          before.prompts,
          "the model was not asked",
        );
        const [{ n }] = await adminSql()`
        select count(*)::integer as n from public.documents where case_id = ${caseId}`;
        assert.equal(n, 1);
        const [task] = await adminSql()`select outcome from public.tasks where id = ${taskId}`;
        assert.equal(task.outcome, "Called: renewing this week, quote sent by email");
      },
    );
  },
);
