// Apollo Client's PersistedQueryLink, unchanged, against a running predictql (POST, then GET hashes).
//
//   node tests/audit/apollo_apq.mjs http://127.0.0.1:8000/graphql
//
// Each query runs twice: the first send of a hash must miss (PERSISTED_QUERY_NOT_FOUND), the link
// then sends hash + text, and the second run must be answered from the hash alone. Exits 1 otherwise.
import { createHash } from 'node:crypto';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client/core/index.js';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries/index.js';

const url = process.argv[2];
const sha256 = (text) => createHash('sha256').update(text).digest('hex');
const sent = [];
const recordingFetch = async (uri, options) => {
  const response = await fetch(uri, options);
  const body = options.method === 'GET' ? new URL(uri).searchParams : new URLSearchParams(
    Object.entries(JSON.parse(options.body)).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
  );
  sent.push({ method: options.method, hasQuery: body.has('query'), status: response.status, text: await response.clone().text() });
  return response;
};

let failed = false;
for (const useGETForHashedQueries of [false, true]) {
  sent.length = 0;
  const link = createPersistedQueryLink({ sha256, useGETForHashedQueries }).concat(
    new HttpLink({ uri: url, fetch: recordingFetch }),
  );
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  // A name of this run's own: the server must not know the hash yet.
  const query = gql(`query Apq${useGETForHashedQueries ? 'Get' : 'Post'}${process.pid}${Date.now()} { __typename }`);
  for (let run = 0; run < 2; run += 1) {
    const result = await client.query({ query, fetchPolicy: 'network-only' });
    if (result.data?.__typename !== 'Query') failed = true;
  }
  const hashMethod = useGETForHashedQueries ? 'GET' : 'POST';
  const expected = [
    [hashMethod, false, 'PERSISTED_QUERY_NOT_FOUND'],
    ['POST', true, '"data"'],
    [hashMethod, false, '"data"'],
  ];
  const ok = sent.length === 3 && expected.every(([method, hasQuery, text], i) =>
    sent[i].method === method && sent[i].hasQuery === hasQuery && sent[i].text.includes(text));
  console.log(`${ok ? 'ok  ' : 'FAIL'} hashes over ${hashMethod}: ${JSON.stringify(sent)}`);
  failed ||= !ok;
}
process.exit(failed ? 1 : 0);
