"""The assembled GraphQL server: the root types merged from the resolvers, the ASGI view, the
extensions (errors, cost, idempotency, input guard) and the limits. It sits above ``schema``
(types) and ``resolvers`` (root fields), so no layer imports upward."""
