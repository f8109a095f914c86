// Package githubapp is the one adapter over go-github v62. It builds
// authenticated clients (GitHub App via ghinstallation, or a static token
// for development), makes every call resilient (bounded retries with
// backoff and jitter, per-installation rate-limit memory, a per-installation
// circuit breaker) and offers the few operations the trigger and reporter
// need, including the marker-based comment upsert.
//
// Types: signatures use go-github's own types (*github.PullRequest,
// *github.CheckRun, github.CreateCheckRunOptions, ...). The consumers already
// parse webhooks into go-github types, so a parallel model would only add
// copying. Consumers declare the small interface they use and assert
// `var _ Iface = (*githubapp.Adapter)(nil)`.
//
// Requeueing: a call refused or stopped because of a rate limit returns a
// *RateLimitedError, and a call refused because the breaker is open returns
// a *CircuitOpenError (errors.Is(err, ErrCircuitOpen)). Neither blocks the
// caller; a controller does
//
//	if d, ok := githubapp.RetryAfter(err); ok {
//		queue.AddAfter(key, d)
//		return nil
//	}
//
// and treats other errors with IsRetryable (rate-limited requeue) or as
// terminal.
package githubapp
