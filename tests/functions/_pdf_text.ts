// The text a generated PDF shows, for the receipts tests: pdf-lib writes standard-font text as
// hex strings in a flate-compressed content stream; this inflates the first page's stream and
// decodes the strings of its Tj operators.
import { decodePDFRawStream, PDFArray, PDFDocument, type PDFRawStream } from "pdf-lib";

/** The strings the first page of `bytes` shows, one per line (WinAnsi, read as Latin-1). */
export async function shownText(bytes: Uint8Array): Promise<string> {
  const pdf = await PDFDocument.load(bytes, { updateMetadata: false });
  const contents = pdf.getPage(0).node.Contents();
  const stream = contents instanceof PDFArray ? contents.lookup(0) : contents;
  const decoded = decodePDFRawStream(stream as PDFRawStream).decode();
  const raw = new TextDecoder("latin1").decode(decoded);
  return Array.from(
    raw.matchAll(/<([0-9A-Fa-f]*)> Tj/g),
    (m) => (m[1].match(/../g) ?? []).map((h) => String.fromCharCode(parseInt(h, 16))).join(""),
  ).join("\n");
}
