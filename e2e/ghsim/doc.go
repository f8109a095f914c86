// Package ghsim is a stateful GitHub simulator for tests and the local demo
// (`make run`). It serves the REST shapes go-github v62 and ghinstallation
// use, encoded with go-github's own types, on a loopback port:
//
//   - App auth: JWT (RS256, checked against the App public key) for /app
//     routes, short-lived installation tokens elsewhere (401 otherwise).
//   - Pull requests, issue comments, check runs, collaborator permissions,
//     with GitHub's pagination (Link headers) and rate-limit headers.
//   - Scripted user actions (open, push, close, merge, label, comment,
//     re-run ...) that change state and send signed webhooks, with hold,
//     redeliver, out-of-order delivery and drop.
//   - Fault switches: 5xx, primary and secondary rate limits, latency,
//     dropped webhooks.
//   - A recorder of every API call and render helpers for the conversation.
//
// It is test and demo code only; product code must not import it.
package ghsim
