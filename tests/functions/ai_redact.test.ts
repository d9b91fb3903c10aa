// redact() alone (functions/_shared/ai/redact.ts): phone numbers, Aadhaar, PAN and emails in
// every way people write them (groupings, separators, full-width forms, invisible characters,
// digits of other scripts), known names as whole words (codes in facts are not names), the text
// around them unchanged (amounts, dates, ids, other scripts), nothing a text can forge, lone
// surrogates made safe for the database. What it costs is measured by bench/redact.ts.
import assert from "node:assert/strict";
import {
  personalise,
  redact,
  redactValue,
  wellFormed,
  wellFormedValue,
} from "../../functions/_shared/ai/redact.ts";
import { deskNote } from "../../bench/lib/desk_note.ts";

/** Each written form must come back as `token`, inside a sentence. */
function assertEach(forms: string[], token: string): void {
  for (const form of forms) {
    assert.equal(redact(`Call ${form} today.`), `Call ${token} today.`, JSON.stringify(form));
  }
}

Deno.test("redact: Indian phone numbers in every usual form, and E.164", () => {
  assertEach([
    "+91 98101 50461",
    "+919810150461",
    "+91-98101-50461",
    "0091 98101 50461",
    "(+91) 98101 50461",
    "91 9810150461",
    "098101 50461",
    "09810150461",
    "9810150461",
    "98101-50461",
    "981 015 0461",
    "9810 150 461",
    "022 2345 6789",
    "011-23456789",
    "+1 415 555 2671",
    "+44 20 7946 0958",
    "९८१०१५०४६१",
  ], "<phone>");
  assert.equal(redact("mob9810150461"), "mob<phone>", "letters may touch a number");
  assert.equal(redact("फ़ोन: +91 98101 50461"), "फ़ोन: <phone>");
});

Deno.test("redact: phones in any grouping and with any usual separator", () => {
  assertEach([
    "98 12 34 56 78",
    "98 7654 3210",
    "987 65 43210",
    "(981) 234-5678",
    "+91 (987) 654 3210",
    "+91 (98765) 43210",
    "98123/45678",
    "98123 / 45678",
    "98123,45678",
    "98123.45678",
    "98123 - 45678",
    "98123–45678", // en dash
    "98  123  45678",
  ], "<phone>");
  assert.equal(
    redact("Numbers: 9810150461, 9810150462 and (9810150461)."),
    "Numbers: <phone>, <phone> and (<phone>).",
  );
  assert.equal(redact("due 2026-12-01 9810150461"), "due 2026-12-01 <phone>");
  assert.equal(redact("+91 98101 50461 2026"), "<phone> 2026", "+91 takes ten digits, no more");
});

Deno.test("redact: full-width, invisible and other scripts' characters do not hide a number", () => {
  assertEach([
    "９８１２３４５６７８", // full-width
    "98123\u200B45678", // zero-width space
    "98123\u00AD45678", // soft hyphen
    "9\u200D8\u200C1\u20602345678", // joiners, word joiner
    "98123\uFEFF45678", // BOM
    "98123\u{E0020}45678", // a tag character
    "98123\uE00045678", // private use
    "৯৮১২৩৪৫৬৭৮", // Bengali
    "௯௮௧௨௩௪௫௬௭௮", // Tamil
    "९८१२३४५६७८", // Devanagari
    "٩٨١٢٣٤٥٦٧٨", // Arabic-Indic
    "98\u00A0123\u00A045678", // no-break spaces
    "98\u2009123\u3000" + "45678", // thin and ideographic spaces
    "9\u20E38\u03321\u03322345678", // combining marks on digits
    "9️⃣8️⃣1️⃣2️⃣3️⃣4️⃣5️⃣6️⃣7️⃣8️⃣", // keycaps
    "⑨⑧①②③④⑤⑥⑦⑧", // circled
  ], "<phone>");
  assertEach([
    "２３４５ ６７８９ ０１２３",
    "2345\u200B6789\u200B0123",
    "২৩৪৫ ৬৭৮৯ ০১২৩",
  ], "<aadhaar>");
  assertEach(["ＡＢＣＰＶ１２３４Ｋ", "ABCPV\u200B1234K"], "<pan>");
  assertEach([
    "a.b＠example.com",
    "a.b@exam\u200Bple.com",
    "asha\u00AD.verma@example.in",
    "ａｓｈａ＠ｅｘａｍｐｌｅ．ｉｎ",
  ], "<email>");
});

Deno.test("redact: Aadhaar, PAN and emails written apart; ids, dates and amounts stay", () => {
  assertEach([
    "2345 6789 0123",
    "2345-6789-0123",
    "234567890123",
    "2345.6789.0123",
    "2345  6789  0123",
    "2345/6789/0123",
  ], "<aadhaar>");
  assertEach(["ABCPV1234K", "abcpv1234k", "ABCDE 1234 F", "ABCDE-1234-F", "ABCDE.1234.F"], "<pan>");
  assert.equal(redact("UID 2345 6789 0123."), "UID <aadhaar>.");
  assert.equal(redact("PAN ABCPV1234K, pan abcpv1234k"), "PAN <pan>, pan <pan>");
  assert.equal(
    redact("asha.verma+renew@example.co.in, राम@उदाहरण.भारत"),
    "<email>, <email>",
  );
  const kept = "case 1a2b3c4d-0000-4000-8000-123456789012 due 2026-11-29 premium 1500000 paise, " +
    "sum insured 60000000, 12 days, NCB 35%, policy TEST/AB12CD34, 29.11.2026, 01/12/2026, " +
    "₹8,656.50 and ₹1,50,000 and ₹98,10,15,046, 60,000 75,000 80,000, Total 1500 a month, " +
    "10:30 on 2026-12-01 2026-12-15, 20% + 5%, 3 of 12 installments, 865600";
  assert.equal(redact(kept), kept);
  // Numbers in JSON facts are never touched; strings are.
  assert.deepEqual(
    redactValue({ amount: 9810150461, note: ["call 9810150461"], nested: { email: "a@b.in" } }),
    { amount: 9810150461, note: ["call <phone>"], nested: { email: "<email>" } },
  );
});

Deno.test("redact: facts with amounts, ISO dates, percentages and codes come back unchanged", () => {
  const facts = {
    case_id: "case_1",
    stage: "payment_pending",
    product_line: "motor",
    premium_paise: 865600,
    premium_text: "865600 paise",
    due: "2026-12-01",
    expires_at: "2026-12-01T00:00:00+05:30",
    ncb: "35%",
    loading: "5.5%",
    owed: "₹8,656",
    installments: ["2026-10-01", "2026-11-01", "2026-12-01"],
    reasons: [{ feature: "days_to_expiry", value: "12", weight: 0.35, direction: "up" }],
    hindi: "कुल ₹१,५०० बाकी, १२ दिन",
  };
  assert.deepEqual(redactValue(facts, { customer: "Asha Verma", agent: "Farah Khan" }), facts);
});

Deno.test("redact: known names, whole or in parts, any case, Devanagari too; personalise puts the first name back", () => {
  const known = { customer: ["Mrs. Asha Kumari Verma", "आशा वर्मा"], agent: "Farah Khan" };
  assert.equal(
    redact("Asha Kumari Verma spoke to Farah Khan; asha said VERMA family renews.", known),
    "<customer> spoke to <agent>; <customer> said <customer> family renews.",
  );
  assert.equal(redact("आशा वर्मा जी ने भुगतान किया", known), "<customer> जी ने भुगतान किया");
  assert.equal(redact("Mrs. Verma", known), "Mrs. <customer>", "the honorific is not a name");
  // A part inside another word is not a name.
  assert.equal(redact("Ashanti and Vermaland", known), "Ashanti and Vermaland");
  assert.equal(redact("No names here", {}), "No names here");
  // Hidden by a full-width letter or a zero-width space, still the name.
  assert.equal(redact("Ａsha and Ver\u200Bma", known), "<customer> and <customer>");
  assert.equal(
    personalise("Dear <customer>, <agent> here. Call <phone>.", known),
    "Dear Asha, Farah here. Call <phone>.",
  );
  assert.equal(personalise("Dear <customer>", {}), "Dear <customer>");
});

Deno.test("redact: a name that is also a fact word leaves codes alone and redacts prose", () => {
  const known = { customer: "Case Motor", agent: "Farah Khan" };
  // `_` and digits are word characters: case_1 holds no "Case".
  assert.equal(redact("case_1 and CASE_2, case1", known), "case_1 and CASE_2, case1");
  assert.equal(
    redact("Case Motor asked about case_1's motor policy; Motor, case.", known),
    "<customer> asked about case_1's <customer> policy; <customer>, <customer>.",
  );
  // In facts, identifiers are codes: the answer schema's enums survive.
  const facts = {
    cases: [{ id: "case_1", product_line: "motor", stage: "payment_pending" }],
    options: ["keep", "motor_add_on", "case"],
    reasons: [{ feature: "product_line", value: "motor" }],
    note: "Case Motor renews the motor policy of case_1",
  };
  assert.deepEqual(redactValue(facts, known), {
    ...facts,
    note: "<customer> renews the <customer> policy of case_1",
  });
  // A code is still searched for numbers.
  assert.deepEqual(redactValue(["mob9810150461"], known), ["mob<phone>"]);
});

Deno.test("redact: nothing in a text can forge its internals: private-use characters stay as given", () => {
  const uuid = "1a2b3c4d-0000-4000-8000-123456789012";
  for (
    const text of [
      "a \uE0000\uE000 b",
      "a \uE0005\uE000 b",
      `${uuid} \uE0000\uE000 and \uE0001\uE000`,
      "<customer> \uE000\uE000 <phone>",
      "\0\0 x \0",
    ]
  ) {
    assert.equal(redact(text), text, JSON.stringify(text));
  }
  assert.equal(
    redact(`${uuid} \uE0000\uE000 call 9810150461`),
    `${uuid} \uE0000\uE000 call <phone>`,
  );
});

Deno.test("redact: lone surrogates become U+FFFD, so the database can store the JSON", () => {
  assert.equal(redact("hello \ud800"), "hello \uFFFD");
  assert.equal(redact("\udc00 9810150461 \ud83d"), "\uFFFD <phone> \uFFFD");
  assert.equal(redact("a 😀 b"), "a 😀 b", "a pair is not a lone surrogate");
  const value = redactValue({ ["key \ud800"]: ["x \udfff"], n: 1 });
  assert.deepEqual(value, { ["key \uFFFD"]: ["x \uFFFD"], n: 1 });
  assert.ok(JSON.stringify(value).indexOf("\\ud") === -1);
  assert.equal(wellFormed("\ud800\ud800"), "\uFFFD\uFFFD");
  assert.deepEqual(wellFormedValue({ a: ["\ud800"], b: null, c: 2 }), {
    a: ["\uFFFD"],
    b: null,
    c: 2,
  });
  // And a known name with a lone surrogate does not break the pattern.
  assert.equal(redact("Asha said", { customer: "Asha \ud800" }), "<customer> said");
});

Deno.test("redact: a long desk note loses every name, number, email, PAN and Aadhaar", () => {
  const known = { customer: ["Asha Kumari Verma", "आशा वर्मा"], agent: "Farah Khan" };
  for (const length of [2000, 20000]) {
    const redacted = redact(deskNote(length), known);
    for (const word of ["Asha", "Farah", "आशा", "98101", "3210", "asha.verma", "ABCPV", "6789"]) {
      assert.ok(!redacted.includes(word), `${word} in a ${length}-character note`);
    }
  }
  // Hostile shapes (bench/redact.ts times them) come back whole or as tokens, never broken.
  assert.equal(redact("a".repeat(20000), known), "a".repeat(20000));
  assert.equal(redact("a@".repeat(10000), known), "a@".repeat(10000));
});
