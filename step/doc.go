// Package step is what runs inside the Tekton steps of a preview PipelineRun: deploying the
// pull request's chart with Helm (used as a library), checking that the deployed application
// is available and answers on its health path, and removing the release when the pull request
// closes. cmd/preview-step parses flags into the options structs here and calls Deploy,
// HealthCheck or Cleanup; nothing in this package reads flags or the environment.
//
// Every function takes the Kubernetes clients it uses (see Clients), so the same code runs
// against the PR namespace in a pod and against the e2e control plane in tests.
package step
