// Entry point on Supabase Edge Functions (and `supabase functions serve`).
import app from "./app.ts";

Deno.serve(app.fetch);
