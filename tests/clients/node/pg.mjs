// node-pg (npm "pg") with its default settings: one Client, extended protocol for
// parameterized queries, JS Dates sent as text with the local UTC offset.
import pg from "pg";
import { parseArgs, failure, emit } from "./common.mjs";

const { url, steps } = parseArgs();
const report = { client: "pg", connect: null, steps: {} };
const client = new pg.Client({ connectionString: url });
client.on("error", () => {});  // a dropped connection shows up in the next step's error
try {
  await client.connect();
  report.connect = { ok: true };
} catch (err) {
  report.connect = failure(err);
}
if (report.connect.ok) {
  for (const step of steps) {
    try {
      const result = await client.query(step.sql, step.params);
      report.steps[step.name] = {
        ok: true,
        rows: result.rows,
        fields: result.fields.map((f) => ({ name: f.name, type: f.dataTypeID })),
      };
    } catch (err) {
      report.steps[step.name] = failure(err);
    }
  }
  await client.end().catch(() => {});
}
emit(report);
