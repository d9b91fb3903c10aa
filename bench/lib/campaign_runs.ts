// The campaigns benchmark's steps (bench/campaigns.ts) on one session: a fresh outbox, a new
// campaign of the zone manager's, its preview and launch as the manager, and the reference (the
// launch's rows by plain INSERT ... SELECT), with the checks that make their comparison mean
// something.
import postgres from "postgres";
import { type CampaignBook, variantTemplates, zoneManager } from "./campaign_book.ts";

/** The columns the gate's insert fills (private.enqueue_messages), and campaign_id. */
export const messageColumns = [
  "customer_id",
  "case_id",
  "channel",
  "purpose",
  "template_id",
  "variables",
  "subject",
  "body",
  "recipient",
  "priority",
  "status",
  "blocked_reason",
  "blocked_at",
  "deferred_reason",
  "idempotency_key",
  "next_attempt_at",
  "estimated_cost_paise",
  "created_by",
  "queued_at",
  "provider",
  "template_snapshot",
  "campaign_id",
];
export const recipientColumns = [
  "campaign_id",
  "customer_id",
  "case_id",
  "variant_id",
  "message_id",
  "due_at",
  "state",
  "next_at",
];

/** What private.launch_campaign / preview_campaign answer (private.campaign_counts). */
export interface Counts {
  audience: number;
  queued: number;
  deferred: number;
  blocked: number;
  blocked_reasons: Record<string, number>;
  estimated_cost_paise: string;
  created: number;
}

/**
 * How long a step took: wall-clock seconds from BEGIN to COMMIT, and the CPU seconds of the
 * Postgres backend that ran it (user + system, from /proc; 10 ms ticks; NaN when not measured).
 * On a shared machine the wall clock includes waiting for a core; the CPU time does not.
 */
export interface Timing {
  seconds: number;
  cpu: number;
}

/** One run's figures. */
export interface RunResult {
  preview: Timing;
  launch: Timing;
  reference: Timing;
  counts: Counts;
  previewEqual: boolean;
  recipients: number;
  /** Recipients per variant code. */
  variants: Record<string, number>;
}

/** Options of one launch: JIT off, function statistics, auto_explain. */
export interface LaunchOptions {
  jitOff?: boolean;
  /** Runs `inspect` in the launch's transaction after the launch, as the superuser again. */
  inspect?: (tx: postgres.TransactionSql) => Promise<void>;
  /** A statement timeout for the launch, in seconds (none by default). */
  timeoutSeconds?: number;
  /** A connection other than the bench's (auto_explain's). */
  on?: postgres.Sql;
}

/**
 * The bench's steps on the cluster at `url`, on one session at a time (`sql`, one connection,
 * opened by newSession).
 */
export class CampaignBench {
  constructor(
    readonly url: string,
    readonly book: CampaignBook,
    readonly asOf: string,
    /** Recipients an hour the campaign is spread at; 0: not spread. */
    readonly spreadRate: number,
  ) {}

  /** The current session: one connection. */
  sql!: postgres.Sql;
  /** The process id of `sql`'s backend. */
  backendPid = 0;

  /**
   * Ends the current session and opens a new one (a fresh backend, as a new pooled connection
   * would be), whose CPU time the steps read.
   */
  async newSession() {
    await this.sql?.end();
    this.sql = postgres(this.url, { max: 1, onnotice: () => {} });
    [{ pid: this.backendPid }] = await this.sql`select pg_backend_pid() as pid`;
  }

  /** CPU seconds (user + system) the backend has used so far; NaN if it cannot be read. */
  async backendCpu(): Promise<number> {
    try {
      const stat = await Deno.readTextFile(`/proc/${this.backendPid}/stat`);
      // Fields after "(comm)": state is the 3rd field of the line, utime the 14th, stime 15th.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      return NaN;
    }
  }

  /** Runs `work` and times it: wall clock, and the backend's CPU when `on` is the bench's. */
  async timed<T>(work: () => Promise<T>, on = this.sql): Promise<{ value: T; timing: Timing }> {
    const cpuBefore = on === this.sql ? await this.backendCpu() : NaN;
    const started = performance.now();
    const value = await work();
    const seconds = (performance.now() - started) / 1000;
    const cpu = on === this.sql ? (await this.backendCpu()) - cpuBefore : NaN;
    if (on === this.sql) {
      const [{ pid }] = await this.sql`select pg_backend_pid() as pid`;
      if (pid !== this.backendPid) throw new Error("the bench's connection was replaced");
    }
    return { value, timing: { seconds, cpu } };
  }

  /** The manager's claims, as the API puts them in request.jwt.claims. */
  readonly claims = JSON.stringify({
    sub: zoneManager.id,
    role: "authenticated",
    aud: "authenticated",
    email: zoneManager.email,
  });

  /**
   * Empties the outbox and the recipients (and what cascades from them), analyzes them empty
   * (so the planner sizes them by their pages, as they fill), then a checkpoint. Autovacuum is
   * off for the two tables (prepareCampaignBook): analyzed while a rolled-back preview's rows
   * are dead, or while a launch's rows are not yet committed, it records 0 rows on thousands
   * of pages, the planner then takes the outbox for empty however full, and a launch that
   * reads its messages back plans a nested loop over them (quadratic: found in this bench).
   */
  async freshState(on = this.sql) {
    await on`truncate public.messages, public.campaign_recipients cascade`;
    await on`analyze public.messages, public.campaign_recipients`;
    await on`checkpoint`;
  }

  /**
   * A new draft campaign of the manager's, created under RLS as the manager, for the cases due
   * from the book's first due date to `dueTo` (by default its last: the whole book); its id.
   */
  async newCampaign(name: string, dueTo = this.book.dueTo): Promise<string> {
    return await this.sql.begin(async (tx) => {
      await this.asManager(tx);
      const [{ id }] = await tx`
        insert into public.campaigns (name, scope_node_id, channel, purpose, audience_filter,
                                      spread_rate_per_hour)
        select ${name}, n.id, 'whatsapp', 'service',
               ${tx.json({ expiry_from: this.book.dueFrom, expiry_to: dueTo })},
               ${this.spreadRate > 0 ? this.spreadRate : null}
          from public.hierarchy_nodes n where n.code = ${zoneManager.zoneCode}
        returning id`;
      for (const [code, template] of Object.entries(variantTemplates)) {
        await tx`insert into public.campaign_variants (campaign_id, code, template_code, weight)
                 values (${id}, ${code}, ${template}, 50)`;
      }
      return id as string;
    });
  }

  /** Switches the transaction to the manager, as functions/_shared/db.ts asCaller does. */
  async asManager(tx: postgres.TransactionSql) {
    await tx`select set_config('role', 'authenticated', true),
                    set_config('request.jwt.claims', ${this.claims}, true)`;
  }

  /** private.preview_campaign as the manager: its timing and counts. */
  async preview(id: string): Promise<{ timing: Timing; counts: Counts }> {
    const { value: counts, timing } = await this.timed(() =>
      this.sql.begin(async (tx) => {
        await this.asManager(tx);
        const [counts] = await tx`
        select audience, queued, deferred, blocked, blocked_reasons, estimated_cost_paise, created
          from private.preview_campaign(${id}::uuid, ${this.asOf}::timestamptz)`;
        return counts as Counts;
      })
    );
    return { timing, counts };
  }

  /** private.launch_campaign at the bench's clock, committed: its timing and counts. The form
   * that takes a clock is the owner's (20261202062257: a manager launches on now()), so it runs
   * as the owner with the manager's claims, as the launch job does. */
  async launch(
    id: string,
    options: LaunchOptions = {},
  ): Promise<{ timing: Timing; counts: Counts }> {
    const on = options.on ?? this.sql;
    const { value: counts, timing } = await this.timed(() =>
      on.begin(async (tx) => {
        if (options.jitOff) await tx`set local jit = off`;
        if (options.timeoutSeconds) {
          await tx`select set_config('statement_timeout', ${`${options.timeoutSeconds}s`}, true)`;
        }
        await tx`select set_config('request.jwt.claims', ${this.claims}, true)`;
        const [counts] = await tx`
        select audience, queued, deferred, blocked, blocked_reasons, estimated_cost_paise, created
          from private.launch_campaign(${id}::uuid, ${this.asOf}::timestamptz)`;
        if (options.inspect) await options.inspect(tx);
        return counts as Counts;
      }), on);
    return { timing, counts };
  }

  /**
   * Checks the launch wrote one message and one recipient per customer of the audience (else
   * throws: the comparison would be void), copies them aside for the reference, and returns the
   * recipients per variant.
   */
  async keepLaunched(id: string, counts: Counts): Promise<Record<string, number>> {
    const sql = this.sql;
    const [written] = await sql`
      select (select count(*)::int from public.messages where campaign_id = ${id}) as messages,
             (select count(*)::int from public.campaign_recipients
               where campaign_id = ${id} and message_id is not null) as recipients`;
    const expected = this.book.inScope;
    if (
      counts.audience !== expected || counts.created !== expected ||
      written.messages !== expected || written.recipients !== expected
    ) {
      throw new Error(
        `the launch is void: audience ${counts.audience}, created ${counts.created}, ` +
          `${written.messages} messages and ${written.recipients} recipients written, for ` +
          `${expected} customers in scope`,
      );
    }
    await sql`drop table if exists bench.launched_messages, bench.launched_recipients`;
    await sql`create table bench.launched_messages as
                select ${sql(messageColumns)} from public.messages where campaign_id = ${id}`;
    await sql`create table bench.launched_recipients as
                select r.campaign_id, r.customer_id, r.case_id, r.variant_id, m.idempotency_key,
                       r.due_at, r.state, r.next_at
                  from public.campaign_recipients r join public.messages m on m.id = r.message_id
                 where r.campaign_id = ${id}`;
    await sql`analyze bench.launched_messages`;
    await sql`analyze bench.launched_recipients`;
    const variants = await sql`
      select v.code, count(*)::int as n from public.campaign_recipients r
        join public.campaign_variants v on v.id = r.variant_id
       where r.campaign_id = ${id} group by v.code`;
    return Object.fromEntries(variants.map((v) => [v.code, v.n]));
  }

  /** The reference: the launch's rows by plain INSERT ... SELECT, one transaction, committed. */
  async reference(jitOff = false): Promise<Timing> {
    const sql = this.sql;
    const { timing } = await this.timed(() =>
      sql.begin(async (tx) => {
        if (jitOff) await tx`set local jit = off`;
        await tx`insert into public.messages (${tx(messageColumns)})
               select ${tx(messageColumns)} from bench.launched_messages`;
        await tx`insert into public.campaign_recipients (${tx(recipientColumns)})
               select r.campaign_id, r.customer_id, r.case_id, r.variant_id, m.id, r.due_at,
                      r.state, r.next_at
                 from bench.launched_recipients r
                 join public.messages m on m.idempotency_key = r.idempotency_key`;
      })
    );
    const [written] = await sql`
      select (select count(*)::int from public.messages) as messages,
             (select count(*)::int from public.campaign_recipients
               where message_id is not null) as recipients`;
    if (written.messages !== this.book.inScope || written.recipients !== this.book.inScope) {
      throw new Error(
        `the reference is void: ${written.messages} messages and ${written.recipients} ` +
          `recipients for ${this.book.inScope}`,
      );
    }
    return timing;
  }

  /**
   * `launches` launches in one session, each of a new campaign over the cases due from the
   * book's first due date to `dueTo`, on an empty outbox, each cancelled after
   * `timeoutSeconds`: Postgres plans a PL/pgSQL function's statements for their arguments
   * (custom plans) for the first five calls in a session, then may keep a generic plan, made
   * without the arrays' real sizes. Returns each launch's seconds (NaN when cancelled) and the
   * recipients of the first.
   */
  async sameSession(
    launches: number,
    dueTo: string,
    timeoutSeconds: number,
  ): Promise<{ seconds: number[]; recipients: number }> {
    await this.newSession();
    const seconds: number[] = [];
    let recipients = 0;
    for (let i = 1; i <= launches; i++) {
      await this.freshState();
      const id = await this.newCampaign(`Bench campaign, same session ${i}`, dueTo);
      try {
        const launched = await this.launch(id, { timeoutSeconds });
        if (launched.counts.created !== launched.counts.audience || !launched.counts.created) {
          throw new Error(`same-session launch ${i}: ${JSON.stringify(launched.counts)}`);
        }
        recipients ||= launched.counts.created;
        seconds.push(launched.timing.seconds);
      } catch (error) {
        if ((error as { code?: string }).code !== "57014") throw error;
        seconds.push(NaN);
      }
    }
    return { seconds, recipients };
  }

  /**
   * One run on a new session: a new campaign, its preview, its launch and the reference, each
   * on fresh state.
   */
  async run(run: number, jitOff = false): Promise<RunResult> {
    await this.newSession();
    await this.freshState();
    const id = await this.newCampaign(`Bench campaign ${run}${jitOff ? " (jit off)" : ""}`);
    const preview = await this.preview(id);
    await this.freshState();
    const launched = await this.launch(id, { jitOff });
    const variants = await this.keepLaunched(id, launched.counts);
    await this.freshState();
    const reference = await this.reference(jitOff);
    const same = (c: Counts) =>
      JSON.stringify([
        c.audience,
        c.queued,
        c.deferred,
        c.blocked,
        c.blocked_reasons,
        c.estimated_cost_paise,
      ]);
    return {
      preview: preview.timing,
      launch: launched.timing,
      reference,
      counts: launched.counts,
      previewEqual: same(preview.counts) === same(launched.counts),
      recipients: Object.values(variants).reduce((a, b) => a + b, 0),
      variants,
    };
  }
}
