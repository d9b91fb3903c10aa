// A desk note as an agent might type it into the case chat, for redact()'s test and benchmark.

/** A desk note of `length` characters: three known names, numbers, an email, Hindi and a long link. */
export function deskNote(length: number): string {
  const parts = [
    "Asha Kumari Verma called about her motor renewal (case_1) due 2026-12-01: premium ₹8,656 " +
    "(865600 paise), NCB 35% at stake. ",
    "Farah Khan promised a call back on 98101 50461 or +91 (987) 654 3210; mail " +
    "asha.verma@example.in. ",
    "आशा जी ने कहा कि वह ९८१०१५०४६१ पर उपलब्ध हैं। ",
    "Payment link: https://pay.example.in/l/" + "Ab3xYz9Q".repeat(80) + " ",
    "PAN ABCPV1234K, Aadhaar 2345 6789 0123. ",
  ];
  let text = "";
  for (let i = 0; text.length < length; i++) text += parts[i % parts.length];
  return text.slice(0, length);
}
