// One reader for the client matrix (labs/harness/client_matrix.py): npm's `eventsource` 4
// (the EventSource most Node code uses; its parser is `eventsource-parser`), reading the URL
// given as the only argument and printing one JSON line per event it dispatches, as the
// matrix's Python readers do.  It reconnects on its own, as a browser does.
import { EventSource } from "eventsource";

const source = new EventSource(process.argv[2]);
const print = (record) => process.stdout.write(JSON.stringify(record) + "\n");
// A named event reaches only its own listener: listen for every name the kit sends.
for (const type of ["connected", "notify", "gap", "goodbye", "message"]) {
  source.addEventListener(type, (event) => print({ event: type, id: event.lastEventId, data: event.data }));
}
source.addEventListener("error", (event) => print({ note: `error: ${event.message ?? "connection lost"}, reconnecting` }));
process.stdin.on("end", () => { source.close(); process.exit(0); });  // whoever started us is gone
process.stdin.resume();
