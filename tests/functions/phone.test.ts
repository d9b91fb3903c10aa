// Phone numbers in the forms people write them, against libphonenumber-js's full metadata.
import assert from "node:assert/strict";
import { MobilePhone, normaliseMobile, phoneSearchForm } from "../../functions/_shared/phone.ts";

Deno.test("phone: Indian mobiles in any common form normalise to E.164", () => {
  for (
    const written of [
      "+919800000101",
      "09800000101",
      "98000 00101",
      "+91 98000-00101",
      "919800000101",
      "0091 98000 00101",
      " 9800000101 ",
      "+91-98000-00101",
      // Brackets, dots, a written-out (0), copied dashes and non-breaking spaces.
      "(+91) 9800000101",
      "(+91) 98000 00101",
      "(+91)-98000-00101",
      "+(91) 98000 00101",
      "(91) 98000 00101",
      "+91 (0) 98000 00101",
      "+91(0)9800000101",
      "(0) 98000 00101",
      "(098000) 00101",
      "+91 (98000) 00101",
      "(0091) 98000 00101",
      "0091-98000-00101",
      "+91.98000.00101",
      "+91 98000\u00a000101",
      "+91 \u2013 98000 00101",
      "+91\u201198000\u201100101",
    ]
  ) {
    assert.equal(normaliseMobile(written), "+919800000101", written);
    assert.equal(phoneSearchForm(written), "+919800000101", written);
  }
  for (const first of ["6", "7", "8", "9"]) {
    assert.equal(normaliseMobile(`${first}012345678`), `+91${first}012345678`);
  }
});

Deno.test("phone: not a mobile, not a number, not valid", () => {
  for (
    const text of [
      "+910000000000",
      "5800000101",
      "1800000101",
      "980000010",
      "98000001011",
      "011 2345 6789", // a Delhi landline
      "RC-2026-000123",
      "Meera",
      "",
      "()",
      "(+91)",
      "98000 00101 ext. 4",
      "+91 98000 00101 / +91 98000 00102", // two numbers are not one
      "9800000101+",
      "+ +91 9800000101",
    ]
  ) {
    assert.equal(normaliseMobile(text), undefined, text);
  }
  // A search for a landline still finds it; a policy number is not a phone number.
  assert.equal(phoneSearchForm("011 2345 6789"), "+911123456789");
  assert.equal(phoneSearchForm("MOT/2026/000123"), undefined);
  assert.equal(phoneSearchForm("Meera Iyer"), undefined);
  assert.equal(phoneSearchForm("(Meera)"), undefined);
});

Deno.test("phone: the request schema answers in E.164 or with the rule", () => {
  assert.equal(MobilePhone.parse("098123 45678"), "+919812345678");
  const refused = MobilePhone.safeParse("+910000000000");
  assert.equal(refused.success, false);
  assert.match(refused.error!.issues[0].message, /10 digits starting with 6, 7, 8 or 9/);
});
