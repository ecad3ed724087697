// postgres.js (npm "postgres") with its default options: on connect it fetches the
// array types from pg_type (fetch_types: true), then runs each step with sql.unsafe.
import postgres from "postgres";
import { parseArgs, failure, emit } from "./common.mjs";

const { url, steps } = parseArgs();
const report = { client: "postgres", connect: null, steps: {} };
const sql = postgres(url, { onnotice: () => {} });  // notices would go to stdout otherwise
try {
  await sql`select 1 as connected`;  // opens the connection and runs the type query
  report.connect = { ok: true };
} catch (err) {
  report.connect = failure(err);
}
if (report.connect.ok) {
  for (const step of steps) {
    try {
      const rows = await sql.unsafe(step.sql, step.params);
      report.steps[step.name] = {
        ok: true,
        rows: Array.from(rows),
        fields: (rows.columns || []).map((c) => ({ name: c.name, type: c.type })),
      };
    } catch (err) {
      report.steps[step.name] = failure(err);
    }
  }
}
await sql.end({ timeout: 5 }).catch(() => {});
emit(report);
