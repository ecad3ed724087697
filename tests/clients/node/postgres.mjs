// postgres.js (npm "postgres") with its default options: on connect it fetches the
// array types from pg_type (fetch_types: true), then runs each step with sql.unsafe.
import postgres from "postgres";
import { parseArgs, runSteps, emit } from "./common.mjs";

const sql = postgres(parseArgs().url, { onnotice: () => {} });  // notices would go to stdout otherwise
const report = await runSteps("postgres", () => sql`select 1 as connected`, async (step) => {
  const rows = await sql.unsafe(step.sql, step.params);
  return { rows: Array.from(rows), fields: (rows.columns || []).map((c) => ({ name: c.name, type: c.type })) };
});
await sql.end({ timeout: 5 }).catch(() => {});
emit(report);
