// The real `graphql-ws` client following a user's private streams across forced reconnects.
//
//   node reconnect.mjs <http base url> <email> <password> <stream>...
//
// Each connection authenticates with a fresh access token from `connectionParams` (sign-in the
// first time, then the refresh token). Every stream is subscribed with `fromSeq`, which `next`
// keeps at the last seq seen: graphql-ws sends the same payload object again when it resubscribes
// after a reconnect, so each stream resumes where it was. Before reconnecting, the client waits
// for a line "reconnect" on stdin (the test commits changes while the client is away); "stop"
// disposes the client. Everything that happens is printed as one JSON object per line.
import readline from "node:readline";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [base, email, password, ...streams] = process.argv.slice(2);
const print = (event) => process.stdout.write(JSON.stringify(event) + "\n");

let refreshToken = null;

async function freshAccessToken() {
  const request = refreshToken
    ? { query: "mutation($t: String) { refreshToken(input: {refreshToken: $t}) { accessToken refreshToken userErrors { code } } }",
        variables: { t: refreshToken } }
    : { query: "mutation($e: String!, $p: String!) { signIn(input: {email: $e, password: $p}) { accessToken refreshToken userErrors { code } } }",
        variables: { e: email, p: password } };
  const response = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(request),
  });
  const body = await response.json();
  const pair = body.data?.refreshToken ?? body.data?.signIn;
  if (!pair?.accessToken) throw new Error(`no token: ${JSON.stringify(body)}`);
  refreshToken = pair.refreshToken;
  print({ event: "token", via: request.variables.t ? "refresh" : "signIn" });
  return pair.accessToken;
}

let releaseRetry = null;

const client = createClient({
  url: `${base.replace(/^http/, "ws")}/graphql`,
  webSocketImpl: WebSocket,
  connectionParams: async () => ({ Authorization: `Bearer ${await freshAccessToken()}` }),
  retryAttempts: 10,
  retryWait: () => new Promise((resolve) => {
    releaseRetry = resolve;
    print({ event: "waiting" });
  }),
  on: {
    connected: () => print({ event: "connected" }),
    closed: (close) => print({ event: "closed", code: close.code, reason: close.reason }),
  },
});

for (const stream of streams) {
  const payload = {
    query: `subscription($from: Long) { ${stream}(fromSeq: $from) { kind seq } }`,
    variables: { from: 0 },
  };
  client.subscribe(payload, {
    next: (result) => {
      if (result.errors) {
        print({ event: "error", stream, errors: result.errors });
        return;
      }
      const { kind, seq } = result.data[stream];
      print({ event: "message", stream, kind, seq: Number(seq) });
      if (kind !== "GAP") payload.variables.from = Number(seq);
    },
    error: (error) => print({ event: "error", stream, error: String(error?.reason ?? error?.message ?? error) }),
    complete: () => print({ event: "complete", stream }),
  });
}

readline.createInterface({ input: process.stdin }).on("line", async (line) => {
  if (line === "reconnect" && releaseRetry) {
    const release = releaseRetry;
    releaseRetry = null;
    release();
  } else if (line === "stop") {
    await client.dispose();
    print({ event: "stopped" });
    process.exit(0);
  }
});
