// The upload's checks that need no database: the bytes' type (magic numbers), the file name made
// safe as an object key's last part, and the download's Content-Disposition.
import assert from "node:assert/strict";
import { safeFileName, sniffContentType } from "../../functions/api/documents/upload.ts";
import { contentDisposition } from "../../functions/_shared/storage/s3.ts";

const bytes = (head: number[] | string) =>
  typeof head === "string" ? new TextEncoder().encode(head) : new Uint8Array(head);

Deno.test("documents: the type is told by the first bytes only", () => {
  assert.equal(sniffContentType(bytes("%PDF-1.4\n")), "application/pdf");
  assert.equal(sniffContentType(bytes([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10, 0])), "image/png");
  assert.equal(sniffContentType(bytes([0xff, 0xd8, 0xff, 0xdb])), "image/jpeg");
  assert.equal(sniffContentType(bytes("RIFF\x10\x00\x00\x00WEBPVP8L")), "image/webp");
  // Near misses and other kinds of file.
  assert.equal(sniffContentType(bytes(" %PDF-1.4")), undefined, "not at the start");
  assert.equal(sniffContentType(bytes("%PDF")), undefined, "no dash");
  assert.equal(sniffContentType(bytes([0x89, 0x50, 0x4e, 0x47, 13, 10, 26])), undefined);
  assert.equal(sniffContentType(bytes("RIFF\x10\x00\x00\x00WAVEfmt ")), undefined, "a WAV");
  assert.equal(sniffContentType(bytes("MZ\x90\x00")), undefined, "an executable");
  assert.equal(sniffContentType(bytes("PK\x03\x04")), undefined, "a zip (docx)");
  assert.equal(sniffContentType(bytes("<svg xmlns")), undefined, "SVG runs scripts");
  assert.equal(sniffContentType(new Uint8Array()), undefined, "empty");
});

Deno.test("documents: file names become safe object key parts", () => {
  const cases: [string, string][] = [
    ["policy.pdf", "policy.pdf"],
    ["Policy schedule (2026).pdf", "Policy schedule _2026_.pdf"],
    ["../../etc/passwd.pdf", "passwd.pdf"],
    ["C:\\Users\\me\\scan.pdf", "scan.pdf"],
    ["..pdf", "pdf"],
    ["...", "document.pdf"],
    ["Lettre à l'assureur.pdf", "Lettre a l_assureur.pdf"],
    ["बीमा.pdf", "document.pdf"],
    ["a\u0000b\nc.pdf", "a_b_c.pdf"],
    ["  spaced   out .pdf", "spaced out .pdf"],
    [".hidden.pdf", "hidden.pdf"],
  ];
  for (const [name, safe] of cases) assert.equal(safeFileName(name, "application/pdf"), safe, name);
  assert.equal(safeFileName("", "image/jpeg"), "document.jpg");
  const long = safeFileName(`${"x".repeat(300)}.webp`, "image/webp");
  assert.equal(long.length, 120);
  assert.ok(long.endsWith(".webp"));
  for (const [name] of cases) {
    assert.match(safeFileName(name, "application/pdf"), /^[A-Za-z0-9._ -]{1,120}$/, name);
  }
});

Deno.test("documents: the download keeps its name, quoted safely", () => {
  assert.equal(
    contentDisposition("copy.pdf"),
    "attachment; filename=\"copy.pdf\"; filename*=UTF-8''copy.pdf",
  );
  assert.equal(
    contentDisposition('a"b\\c ü.pdf'),
    "attachment; filename=\"a_b_c _.pdf\"; filename*=UTF-8''a%22b%5Cc%20%C3%BC.pdf",
  );
  assert.equal(
    contentDisposition("it's (1).pdf"),
    "attachment; filename=\"it's (1).pdf\"; filename*=UTF-8''it%27s%20%281%29.pdf",
  );
});
