// Runs the graphql-http server audits (GraphQL over HTTP spec) against a running predictql.
//
//   node tests/audit/audit.mjs http://127.0.0.1:8000/graphql
//
// Prints every audit; exits 1 when a MUST fails (status "error"), or when the SHOULDs named
// in PREDICTQL_AUDIT_STRICT=should fail too. MAY audits ("notice") are informational.
import { auditServer } from 'graphql-http';

const url = process.argv[2] || process.env.PREDICTQL_GRAPHQL_URL;
if (!url) {
  console.error('usage: node audit.mjs <graphql url>');
  process.exit(2);
}

const results = await auditServer({ url });
const label = { ok: 'ok  ', error: 'FAIL', warn: 'warn', notice: 'note' };
const counts = { ok: 0, error: 0, warn: 0, notice: 0 };
for (const result of results) {
  counts[result.status] += 1;
  const why = result.status === 'ok' ? '' : ` -- ${result.reason}`;
  console.log(`${label[result.status]} ${result.id} ${result.name}${why}`);
}
console.log(
  `\n${results.length} audits: ${counts.ok} ok, ${counts.error} MUST failed, ` +
    `${counts.warn} SHOULD failed, ${counts.notice} MAY not done`,
);
const strictShould = process.env.PREDICTQL_AUDIT_STRICT === 'should';
process.exit(counts.error > 0 || (strictShould && counts.warn > 0) ? 1 : 0);
