// Generated documents as PDF (pdf-lib, pure JavaScript): the payment receipt and the renewal
// notice. One A4 page of label/value rows under the insurer's name. Rendering is a pure function
// of its input: the document's dates (CreationDate, ModDate) are the payment's time (a receipt)
// or the notice's issue time, never the clock, and pdf-lib writes no random file identifier, so
// rendering the same input twice gives the same bytes (and the same SHA-256): a document
// re-rendered after a crash is stored once, with the checksum it had.
//
// Fonts: only the PDF standard fonts (Helvetica), which cover Latin text in WinAnsi encoding,
// so nothing is embedded and files stay small (about 2 KB). Text they cannot show (Devanagari,
// the rupee sign U+20B9) is replaced by "?", and amounts read "Rs. 1,20,000.00". A Hindi
// receipt would need an embedded Unicode font (Noto Sans Devanagari, with @pdf-lib/fontkit) and
// a shaping engine (HarfBuzz) for conjuncts and matras, which pdf-lib does not do: left for later.
import { PDFDocument, type PDFFont, rgb, StandardFonts } from "pdf-lib";

/** A payment receipt's content. Amount in integer paise; `paidAt` is the payment's time. */
export interface ReceiptContent {
  kind: "receipt";
  /** public.documents.id, printed as the receipt's number. */
  documentId: string;
  /** The insurer (policies.insurer) the premium was paid for. */
  issuer: string;
  customerName: string;
  policyNumber: string | null;
  caseNumber: string;
  /** What was paid, in paise (integer). */
  amountPaise: number;
  /** ISO 4217 code (INR). */
  currency: string;
  /** Razorpay's payment id (`pay_…`). */
  paymentReference: string;
  /** upi, card, netbanking, … as Razorpay names it; null when unknown. */
  method: string | null;
  /** When the payment was credited: the PDF's CreationDate and ModDate, printed in IST. */
  paidAt: Date;
}

/** A renewal notice's content: the renewal premium quoted and when the cover ends. */
export interface RenewalNoticeContent {
  kind: "renewal_notice";
  documentId: string;
  issuer: string;
  customerName: string;
  policyNumber: string | null;
  caseNumber: string;
  /** The premium to pay, in paise (integer). */
  premiumPaise: number;
  currency: string;
  /** The last day of the current cover, YYYY-MM-DD. */
  dueDate: string;
  /** When the notice was issued (the quote's time): the PDF's dates, printed in IST. */
  issuedAt: Date;
}

/** What render() takes. */
export type DocumentContent = ReceiptContent | RenewalNoticeContent;

/** The content type of every rendered document. */
export const pdfContentType = "application/pdf";

/** The Indian time zone every printed time is in. */
const ist = new Intl.DateTimeFormat("en-IN", {
  timeZone: "Asia/Kolkata",
  day: "2-digit",
  month: "short",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  hour12: false,
});

/** An instant as IST text: `30 Nov 2026, 09:05 IST`. */
export function formatIst(at: Date): string {
  return `${ist.format(at)} IST`;
}

/** A YYYY-MM-DD date as `30 Nov 2026` (a calendar day: no time zone applies). */
export function formatDay(day: string): string {
  const [y, m, d] = day.split("-").map(Number);
  const months = [
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
  ];
  if (!y || !m || !d || m > 12) throw new RangeError(`not a YYYY-MM-DD date: ${day}`);
  return `${String(d).padStart(2, "0")} ${months[m - 1]} ${y}`;
}

/**
 * Integer paise as money in the standard fonts' Latin: INR as `Rs. 1,20,000.00` (Indian
 * grouping, always two decimals), another currency as `USD 1,200.00`. Throws a RangeError for a
 * fractional or unsafe paise value (money is never rounded here).
 */
export function formatAmount(paise: number, currency = "INR"): string {
  if (!Number.isSafeInteger(paise)) throw new RangeError(`not integer paise: ${paise}`);
  const whole = BigInt(Math.abs(paise)) / 100n;
  const fraction = String(Math.abs(paise) % 100).padStart(2, "0");
  const grouped = currency === "INR"
    ? whole.toLocaleString("en-IN")
    : whole.toLocaleString("en-US");
  return `${paise < 0 ? "-" : ""}${currency === "INR" ? "Rs." : currency} ${grouped}.${fraction}`;
}

/** `text` with every character `font` cannot encode replaced by "?" (see the file's note). */
function latin(font: PDFFont, text: string): string {
  const known = new Set(font.getCharacterSet());
  return Array.from(text.normalize("NFC"), (c) => known.has(c.codePointAt(0)!) ? c : "?")
    .join("");
}

/** The title and rows a document prints. */
function layout(content: DocumentContent): { title: string; rows: [string, string][] } {
  const common: [string, string][] = [
    ["Customer", content.customerName],
    ["Policy number", content.policyNumber ?? "-"],
    ["Case number", content.caseNumber],
  ];
  if (content.kind === "receipt") {
    return {
      title: "Payment receipt",
      rows: [
        ["Receipt number", content.documentId],
        ...common,
        ["Amount received", formatAmount(content.amountPaise, content.currency)],
        ["Payment reference", content.paymentReference],
        ["Payment method", content.method ?? "-"],
        ["Paid on", formatIst(content.paidAt)],
      ],
    };
  }
  return {
    title: "Renewal notice",
    rows: [
      ["Notice number", content.documentId],
      ...common,
      ["Renewal premium", formatAmount(content.premiumPaise, content.currency)],
      ["Cover ends on", formatDay(content.dueDate)],
      ["Issued on", formatIst(content.issuedAt)],
    ],
  };
}

/**
 * Renders a receipt or a renewal notice as a one-page PDF. The same content gives the same
 * bytes (dates from the content, no random id). Throws a RangeError for an amount that is not
 * integer paise.
 */
export async function renderDocument(content: DocumentContent): Promise<Uint8Array> {
  const at = content.kind === "receipt" ? content.paidAt : content.issuedAt;
  const { title, rows } = layout(content);
  const pdf = await PDFDocument.create({ updateMetadata: false });
  const regular = await pdf.embedFont(StandardFonts.Helvetica);
  const bold = await pdf.embedFont(StandardFonts.HelveticaBold);
  pdf.setTitle(`${title} ${content.documentId}`);
  pdf.setAuthor(latin(regular, content.issuer));
  pdf.setProducer("Py360 Renewal (pdf-lib)");
  pdf.setCreator("Py360 Renewal");
  pdf.setCreationDate(at);
  pdf.setModificationDate(at);

  const page = pdf.addPage([595.28, 841.89]); // A4, in points
  const ink = rgb(0.1, 0.1, 0.1);
  const grey = rgb(0.4, 0.4, 0.4);
  let y = 780;
  page.drawText(latin(bold, content.issuer), { x: 56, y, size: 18, font: bold, color: ink });
  y -= 30;
  page.drawText(title, { x: 56, y, size: 14, font: bold, color: ink });
  y -= 12;
  page.drawLine({ start: { x: 56, y }, end: { x: 539, y }, thickness: 0.75, color: grey });
  y -= 28;
  for (const [label, value] of rows) {
    page.drawText(label, { x: 56, y, size: 11, font: regular, color: grey });
    page.drawText(latin(regular, value), { x: 210, y, size: 11, font: bold, color: ink });
    y -= 22;
  }
  y -= 20;
  const note = content.kind === "receipt"
    ? "This receipt was generated electronically and needs no signature."
    : "Please renew before the cover ends to keep your policy benefits.";
  page.drawText(note, { x: 56, y, size: 9, font: regular, color: grey });
  return await pdf.save({ useObjectStreams: false });
}
