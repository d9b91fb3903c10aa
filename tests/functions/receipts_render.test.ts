// Rendering receipts and renewal notices (functions/_shared/documents/render.ts), without the
// database: the same content gives the same bytes; the PDF carries the payment's time as its
// dates, the amount in rupees from paise, the time in IST; text the standard fonts cannot show
// becomes "?" instead of failing; fractional paise are refused.
import assert from "node:assert/strict";
import { PDFDocument } from "pdf-lib";
import {
  formatAmount,
  formatDay,
  formatIst,
  type ReceiptContent,
  renderDocument,
} from "../../functions/_shared/documents/render.ts";
import { sha256 } from "../../functions/_shared/storage/s3.ts";
import { shownText } from "./_pdf_text.ts";

const receipt: ReceiptContent = {
  kind: "receipt",
  documentId: "5b0f9a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
  issuer: "Test General Insurance",
  customerName: "Asha Verma",
  policyNumber: "MOT-2026-000123",
  caseNumber: "RC-2026-000042",
  amountPaise: 1234567,
  currency: "INR",
  paymentReference: "pay_Qx12AbCdEf34Gh",
  method: "upi",
  paidAt: new Date("2026-11-30T03:35:00Z"),
};

Deno.test("receipts: money, days and instants print as the desk reads them", () => {
  assert.equal(formatAmount(1234567), "Rs. 12,345.67");
  assert.equal(formatAmount(12000000), "Rs. 1,20,000.00");
  assert.equal(formatAmount(5), "Rs. 0.05");
  assert.equal(formatAmount(150000, "USD"), "USD 1,500.00");
  assert.throws(() => formatAmount(10.5), RangeError);
  assert.throws(() => formatAmount(2 ** 53), RangeError);
  assert.equal(formatDay("2026-12-31"), "31 Dec 2026");
  assert.throws(() => formatDay("2026-13-01"), RangeError);
  // 03:35 UTC is 09:05 in India (UTC+05:30), and 20:00 UTC is the next day there.
  assert.equal(formatIst(new Date("2026-11-30T03:35:00Z")), "30 Nov 2026, 09:05 IST");
  assert.equal(formatIst(new Date("2026-11-30T20:00:00Z")), "01 Dec 2026, 01:30 IST");
});

Deno.test("receipts: the same receipt renders to the same bytes, dated by the payment", async () => {
  const first = await renderDocument(receipt);
  await new Promise((resolve) => setTimeout(resolve, 1100)); // another second on the clock
  const second = await renderDocument({ ...receipt });
  assert.equal(new TextDecoder().decode(first.slice(0, 5)), "%PDF-");
  assert.deepEqual(second, first, "byte for byte");
  assert.equal((await sha256(second)).hex, (await sha256(first)).hex);
  assert.match((await sha256(first)).hex, /^[0-9a-f]{64}$/);

  const other = await renderDocument({ ...receipt, amountPaise: 1234568 });
  assert.notDeepEqual(other, first, "another amount, other bytes");

  const pdf = await PDFDocument.load(first, { updateMetadata: false });
  assert.equal(pdf.getPageCount(), 1);
  assert.equal(pdf.getCreationDate()?.toISOString(), "2026-11-30T03:35:00.000Z");
  assert.equal(pdf.getModificationDate()?.toISOString(), "2026-11-30T03:35:00.000Z");
  assert.equal(pdf.getAuthor(), "Test General Insurance");

  const text = await shownText(first);
  for (
    const expected of [
      "Test General Insurance",
      "Payment receipt",
      "Asha Verma",
      "MOT-2026-000123",
      "RC-2026-000042",
      "Rs. 12,345.67",
      "pay_Qx12AbCdEf34Gh",
      "upi",
      "30 Nov 2026, 09:05 IST",
      receipt.documentId,
    ]
  ) {
    assert.ok(text.includes(expected), `${expected} in ${text}`);
  }
});

Deno.test("receipts: Devanagari and the rupee sign become ? rather than failing", async () => {
  const bytes = await renderDocument({
    ...receipt,
    customerName: "आशा Verma",
    issuer: "Test ₹ Insurance",
  });
  const text = await shownText(bytes);
  assert.ok(text.includes("??? Verma"), text);
  assert.ok(text.includes("Test ? Insurance"), text);
  await assert.rejects(renderDocument({ ...receipt, amountPaise: 100.5 }), RangeError);
});

Deno.test("receipts: a renewal notice prints the premium and the day cover ends", async () => {
  const bytes = await renderDocument({
    kind: "renewal_notice",
    documentId: receipt.documentId,
    issuer: "Test General Insurance",
    customerName: "Asha Verma",
    policyNumber: null,
    caseNumber: "RC-2026-000042",
    premiumPaise: 2813850,
    currency: "INR",
    dueDate: "2026-12-31",
    issuedAt: new Date("2026-11-29T18:30:00Z"),
  });
  const text = await shownText(bytes);
  for (
    const expected of ["Renewal notice", "Rs. 28,138.50", "31 Dec 2026", "30 Nov 2026, 00:00 IST"]
  ) {
    assert.ok(text.includes(expected), `${expected} in ${text}`);
  }
  const pdf = await PDFDocument.load(bytes, { updateMetadata: false });
  assert.equal(pdf.getCreationDate()?.toISOString(), "2026-11-29T18:30:00.000Z");
});
