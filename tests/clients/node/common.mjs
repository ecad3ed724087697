// Shared by the client scripts: argument parsing and JSON output.
// Usage: node <script> <postgresql:// URL> '<JSON list of steps>'
// A step is {"name": ..., "sql": ..., "params": [...]}; a parameter written as
// {"date": "2020-01-01"} is passed as new Date("2020-01-01"), anything else as is.
// Prints one JSON object: {"connect": {"ok": ...}, "steps": {name: result}}, where a
// result is {"ok": true, "rows": [...], "fields": [{"name", "type"}]} or
// {"ok": false, "code": SQLSTATE, "message": ...}.

export function parseArgs() {
  const [url, stepsJson] = process.argv.slice(2);
  if (!url) throw new Error("usage: node script.mjs URL [STEPS_JSON]");
  const steps = JSON.parse(stepsJson || "[]").map((step) => ({
    ...step,
    params: (step.params || []).map((p) => (p && typeof p === "object" && "date" in p ? new Date(p.date) : p)),
  }));
  return { url, steps };
}

export function failure(err) {
  return { ok: false, code: err && err.code ? String(err.code) : null, message: String(err && err.message || err) };
}

export function emit(report) {
  const replacer = (_k, v) => (typeof v === "bigint" ? v.toString() : v);
  process.stdout.write(JSON.stringify(report, replacer) + "\n");
}

// Connect, run every step with `query(step)` -> {rows, fields}, and print the report.
export async function runSteps(clientName, connect, query) {
  const { steps } = parseArgs();
  const report = { client: clientName, connect: null, steps: {} };
  try {
    await connect();
    report.connect = { ok: true };
  } catch (err) {
    report.connect = failure(err);
  }
  if (report.connect.ok) {
    for (const step of steps) {
      try {
        report.steps[step.name] = { ok: true, ...(await query(step)) };
      } catch (err) {
        report.steps[step.name] = failure(err);
      }
    }
  }
  return report;
}
