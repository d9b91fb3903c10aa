// SMS segment counting, as Twilio reports `num_segments` and SNS bills: GSM-7 (160 septets in
// one segment, 153 each when split; the extension characters take two) or UCS-2 (70 code
// units, 67 each when split) as soon as one character is outside GSM-7 (3GPP TS 23.038).

const gsmBasic = new Set(
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡" +
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà",
);
const gsmExtension = new Set("^{}\\[~]|€\f");

/** The encoding and segment count of an SMS body. */
export function smsSegments(body: string): { encoding: "GSM-7" | "UCS-2"; segments: number } {
  let septets = 0;
  for (const char of body) {
    if (gsmBasic.has(char)) septets += 1;
    else if (gsmExtension.has(char)) septets += 2;
    else {
      const units = body.length;
      return { encoding: "UCS-2", segments: units <= 70 ? 1 : Math.ceil(units / 67) };
    }
  }
  return { encoding: "GSM-7", segments: septets <= 160 ? 1 : Math.ceil(septets / 153) };
}
