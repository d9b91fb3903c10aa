// The API's vocabulary against the database's: each enum in functions/_shared/domain.ts equals
// enum_range() of its type, every enum type of `public` is there, and the OpenAPI document uses
// the shared schemas rather than value lists of its own.
import assert from "node:assert/strict";
import { adminSql, api, dbTest } from "./_helpers.ts";
import { databaseEnums } from "../../functions/_shared/domain.ts";

dbTest("domain: every enum of public equals the API's, value for value and in order", async () => {
  const rows = await adminSql()`
    select t.typname as name,
           array(select e.enumlabel::text from pg_catalog.pg_enum e
                  where e.enumtypid = t.oid order by e.enumsortorder) as labels
      from pg_catalog.pg_type t
      join pg_catalog.pg_namespace n on n.oid = t.typnamespace
     where n.nspname = 'public' and t.typtype = 'e'
     order by t.typname`;
  assert.ok(rows.length >= 12, "the domain's enum types are in the database");
  const database = Object.fromEntries(rows.map((row) => [row.name, row.labels]));
  assert.deepEqual(
    Object.keys(databaseEnums).sort(),
    Object.keys(database).sort(),
    "an enum type in one and not the other",
  );
  for (const [name, values] of Object.entries(databaseEnums)) {
    const [{ range }] = await adminSql()`
      select enum_range(null::${adminSql()(`public.${name}`)})::text[] as range`;
    assert.deepEqual(range, [...values], `public.${name}`);
  }
  assert.ok(databaseEnums.policy_status.includes("expired"));
});

Deno.test("domain: the OpenAPI document names each enum once and refers to it", async () => {
  const document = await (await api("/openapi.json")).json();
  const schemas = document.components.schemas;
  const named = {
    CaseStage: databaseEnums.case_stage,
    CasePriority: databaseEnums.case_priority,
    ProductLine: databaseEnums.product_line,
    PaymentFrequency: databaseEnums.payment_frequency,
    PolicyStatus: databaseEnums.policy_status,
    InstallmentStatus: databaseEnums.installment_status,
    ChannelType: databaseEnums.channel_type,
    ConsentPurpose: databaseEnums.consent_purpose,
    ConsentStatus: databaseEnums.consent_status,
    HierarchyLevel: databaseEnums.hierarchy_level,
    AppRole: databaseEnums.app_role,
    MessageStatus: databaseEnums.message_status,
    WhatsappTemplateCategory: databaseEnums.whatsapp_template_category,
  };
  for (const [name, values] of Object.entries(named)) {
    assert.deepEqual(schemas[name]?.enum, [...values], name);
  }
  // No inline copy of a whole domain enum anywhere else (a deliberate subset, such as the two
  // statuses a settlement may set, is a different list).
  const domainLists = new Set(
    Object.values(databaseEnums).map((values) => [...values].sort().join(",")),
  );
  const inline: string[] = [];
  const walk = (node: unknown, path: string) => {
    if (Array.isArray(node)) return node.forEach((item, i) => walk(item, `${path}/${i}`));
    if (!node || typeof node !== "object") return;
    const record = node as Record<string, unknown>;
    if (
      Array.isArray(record.enum) && !/^#\/components\/schemas\/[A-Za-z]+$/.test(path) &&
      domainLists.has([...record.enum].sort().join(","))
    ) {
      inline.push(`${path}: ${record.enum.join(",")}`);
    }
    for (const [key, value] of Object.entries(record)) walk(value, `${path}/${key}`);
  };
  walk(document, "#");
  assert.ok(
    JSON.stringify(document).includes('"$ref":"#/components/schemas/CaseStage"'),
    "the walk sees references",
  );
  assert.deepEqual(inline, []);
});
