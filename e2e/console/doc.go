// Package console holds the end-to-end tests of the web console: the real cmd/console process
// against the local control plane (e2e/cluster), people signed in through an in-process OIDC
// provider (e2e/oidcsim) that the kube-apiserver trusts too, and a real headless Chromium
// driven with chromedp.
package console
