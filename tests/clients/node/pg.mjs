// node-pg (npm "pg") with its default settings: one Client, extended protocol for
// parameterized queries, JS Dates sent as text with the local UTC offset.
import pg from "pg";
import { parseArgs, runSteps, emit } from "./common.mjs";

const client = new pg.Client({ connectionString: parseArgs().url });
client.on("error", () => {});  // a dropped connection shows up in the next step's error
const report = await runSteps("pg", () => client.connect(), async (step) => {
  const result = await client.query(step.sql, step.params);
  return { rows: result.rows, fields: result.fields.map((f) => ({ name: f.name, type: f.dataTypeID })) };
});
await client.end().catch(() => {});
emit(report);
