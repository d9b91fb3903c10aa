// SQL fragments for the shapes of functions/_shared/domain.ts that more than one resource
// returns, so each shape is built in one place. Each takes the alias of the row it reads.
import type { Tx } from "../_shared/db.ts";

/** PersonRef `{id, full_name}` of the profile aliased `alias`, or null when there is none. */
export const personJson = (tx: Tx, alias: string) =>
  tx`case when ${tx(alias)}.id is null then null
          else json_build_object('id', ${tx(alias)}.id, 'full_name', ${tx(alias)}.full_name) end`;

/** PolicySchema of the policy aliased `alias`; premium and sum insured in paise. */
export const policyJson = (tx: Tx, alias: string) => {
  const p = tx(alias);
  return tx`json_build_object(
    'id', ${p}.id, 'policy_number', ${p}.policy_number, 'product_line', ${p}.product_line,
    'insurer', ${p}.insurer, 'premium', ${p}.premium, 'sum_insured', ${p}.sum_insured,
    'start_date', ${p}.start_date, 'end_date', ${p}.end_date,
    'payment_frequency', ${p}.payment_frequency, 'ncb_percent', ${p}.ncb_percent,
    'status', ${p}.status)`;
};

/** CustomerSchema of the customer aliased `alias`: contact details, phone in E.164. */
export const customerJson = (tx: Tx, alias: string) => {
  const cu = tx(alias);
  return tx`json_build_object(
    'id', ${cu}.id, 'full_name', ${cu}.full_name, 'phone', ${cu}.phone, 'email', ${cu}.email,
    'language', ${cu}.language, 'preferred_channel', ${cu}.preferred_channel, 'dnd', ${cu}.dnd,
    'kyc_verified_on', ${cu}.kyc_verified_on, 'city', ${cu}.city)`;
};
