// The customers the sandbox plays in the simulated desk: each customer of the book gets one
// persona, drawn with the seed, that fixes their consents, their addresses and what they do
// with what the desk sends them.
import type { Random } from "./random.ts";

/** The personas' names. */
export const personaNames = [
  "prompt_payer",
  "late_payer",
  "reader",
  "ignorer",
  "stopper",
  "invalid_number",
  "bouncing_email",
] as const;

/** One of the personas' names. */
export type PersonaName = typeof personaNames[number];

/** How a persona behaves. */
export interface Persona {
  name: PersonaName;
  /** What they do, for the summary. */
  description: string;
  /** Share of the book, 0..1; the shares sum to 1. */
  share: number;
  /** Opted in to service messages on WhatsApp (without it the desk reaches them by SMS/email). */
  whatsapp: boolean;
  /** Granted marketing on WhatsApp (the renewal offers' campaigns). */
  marketing: boolean;
  /** The customer's preferred channel. */
  preferred: "whatsapp" | "sms" | "email";
  /** first_link: pays the payment link the day the desk opens it; late: pays near or after
   * expiry, after more reminders; never: does not pay. */
  pays: "first_link" | "late" | "never";
  /** Replies STOP on WhatsApp to the first marketing message they get. */
  repliesStop: boolean;
  /** A number no carrier takes (Twilio rejects it: 21211). */
  invalidNumber: boolean;
  /** An address that hard-bounces (the SES mailbox simulator's bounce@). */
  bouncingEmail: boolean;
}

/** The personas and their shares of the book. WhatsApp customers' messages come back read (the
 * sandbox sends Meta's read receipts), SMS and email ones delivered. */
export const personas: Record<PersonaName, Persona> = {
  prompt_payer: {
    name: "prompt_payer",
    description: "reads on WhatsApp, pays the first payment link the day it comes",
    share: 0.24,
    whatsapp: true,
    marketing: true,
    preferred: "whatsapp",
    pays: "first_link",
    repliesStop: false,
    invalidNumber: false,
    bouncingEmail: false,
  },
  late_payer: {
    name: "late_payer",
    description: "reads on WhatsApp, pays late: near expiry or in the grace period",
    share: 0.18,
    whatsapp: true,
    marketing: true,
    preferred: "whatsapp",
    pays: "late",
    repliesStop: false,
    invalidNumber: false,
    bouncingEmail: false,
  },
  reader: {
    name: "reader",
    description: "reads every WhatsApp message, never pays",
    share: 0.18,
    whatsapp: true,
    marketing: true,
    preferred: "whatsapp",
    pays: "never",
    repliesStop: false,
    invalidNumber: false,
    bouncingEmail: false,
  },
  ignorer: {
    name: "ignorer",
    description: "no WhatsApp opt-in: SMS delivered, ignored, never pays",
    share: 0.16,
    whatsapp: false,
    marketing: false,
    preferred: "sms",
    pays: "never",
    repliesStop: false,
    invalidNumber: false,
    bouncingEmail: false,
  },
  stopper: {
    name: "stopper",
    description: "replies STOP to the first offer on WhatsApp, never pays",
    share: 0.08,
    whatsapp: true,
    marketing: true,
    preferred: "whatsapp",
    pays: "never",
    repliesStop: true,
    invalidNumber: false,
    bouncingEmail: false,
  },
  invalid_number: {
    name: "invalid_number",
    description: "an invalid mobile number (SMS refused), reached by email if at all",
    share: 0.08,
    whatsapp: false,
    marketing: false,
    preferred: "sms",
    pays: "never",
    repliesStop: false,
    invalidNumber: true,
    bouncingEmail: false,
  },
  bouncing_email: {
    name: "bouncing_email",
    description: "prefers email, whose address hard-bounces; the next steps go by SMS",
    share: 0.08,
    whatsapp: false,
    marketing: false,
    preferred: "email",
    pays: "late",
    repliesStop: false,
    invalidNumber: false,
    bouncingEmail: true,
  },
};

/**
 * Personas for `count` customers: each persona's share of the count (largest remainder, so every
 * persona appears once the book has at least one customer per persona), in an order shuffled by
 * `random`.
 */
export function assignPersonas(count: number, random: Random): PersonaName[] {
  const exact = personaNames.map((name) => personas[name].share * count);
  const counts = exact.map(Math.floor);
  const order = personaNames.map((_, i) => i)
    .sort((a, b) => (exact[b] - counts[b]) - (exact[a] - counts[a]) || a - b);
  for (let left = count - counts.reduce((a, b) => a + b, 0), k = 0; left > 0; left--, k++) {
    counts[order[k % order.length]]++;
  }
  const assigned = personaNames.flatMap((name, i) => Array<PersonaName>(counts[i]).fill(name));
  return random.shuffle(assigned);
}
