package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/catalyst-preview/catalyst/cmd/internal/setup"
	"github.com/catalyst-preview/catalyst/console"
)

func run(ctx context.Context, o options) error {
	log, err := o.Log.Logger()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	reg := setup.NewRegistry()
	rc, err := setup.KubeConfig(o.Kubeconfig, "catalyst-console", reg)
	if err != nil {
		return err
	}
	co := console.Options{Kube: rc, PublicURL: o.PublicURL, SystemNamespace: o.SystemNamespace, MaxSessionAge: o.SessionMaxAge,
		Log: log, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})}
	if o.DevUser != "" {
		co.Dev = &console.Identity{User: o.DevUser, Groups: splitList(o.DevGroups)}
	} else if co.OIDC, co.SessionKeys, err = oidcConfig(o); err != nil {
		return err
	}
	srv, err := console.New(co)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", o.Listen, err)
	}
	return srv.Serve(ctx, l)
}

func oidcConfig(o options) (*console.OIDC, [][]byte, error) {
	c := &console.OIDC{IssuerURL: o.OIDC.IssuerURL, ClientID: o.OIDC.ClientID, Scopes: splitList(o.OIDC.Scopes),
		UsernameClaim: o.OIDC.UsernameClaim, UsernamePrefix: o.OIDC.UsernamePrefix,
		GroupsClaim: o.OIDC.GroupsClaim, GroupsPrefix: o.OIDC.GroupsPrefix, ExtraAudiences: splitList(o.OIDC.ExtraAudiences)}
	if o.OIDC.ClientSecretFile != "" {
		b, err := os.ReadFile(o.OIDC.ClientSecretFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--oidc-client-secret-file: %w", err)
		}
		c.ClientSecret = strings.TrimSpace(string(b))
	}
	if o.OIDC.CAFile != "" {
		pem, err := os.ReadFile(o.OIDC.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--oidc-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("--oidc-ca-file: %s holds no PEM certificate", o.OIDC.CAFile)
		}
		c.HTTPClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	var keys [][]byte
	for _, f := range splitList(o.SessionKeyFiles) {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("--session-key-files: %w", err)
		}
		keys = append(keys, []byte(strings.TrimSpace(string(b))))
	}
	return c, keys, nil
}
