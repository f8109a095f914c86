// Package step is what runs inside the Tekton steps of a preview PipelineRun: deploying the
// pull request's chart with Helm (used as a library) with the repository's values overlay
// (package step/overlay), waiting for the rollout and verifying that the preview host is
// routed, checking that the application answers on its health path, and removing the release
// when the pull request closes. Failures the developer can act on carry a preview.Diagnostic
// (Diagnostics), which the deploy and healthcheck subcommands write as a Tekton result.
// cmd/preview-step parses flags into the options structs here and calls Deploy, HealthCheck or
// Cleanup; nothing in this package reads flags or the environment.
//
// Every function takes the Kubernetes clients it uses (see Clients), so the same code runs
// against the PR namespace in a pod and against the e2e control plane in tests.
package step
