// Package setup is the wiring shared by Catalyst's binaries: logging, Kubernetes clients,
// GitHub clients, secrets from files, leader election and the HTTP server life cycle.
package setup

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/githubapp"
)

// LogOptions are the logging flags every binary has.
type LogOptions struct {
	Level    string
	Encoding string
}

// AddFlags registers --log-level and --log-encoding.
func (o *LogOptions) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Level, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&o.Encoding, "log-encoding", "json", "log encoding: json or console")
}

// Validate checks the values.
func (o LogOptions) Validate() error {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(o.Level)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if o.Encoding != "json" && o.Encoding != "console" {
		return fmt.Errorf("--log-encoding: must be json or console, got %q", o.Encoding)
	}
	return nil
}

// Logger builds the zap logger the options describe.
func (o LogOptions) Logger() (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(o.Level)); err != nil {
		return nil, err
	}
	cfg := zap.NewProductionConfig()
	if o.Encoding == "console" {
		cfg = zap.NewDevelopmentConfig()
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.EncoderConfig.TimeKey = "ts"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	return cfg.Build()
}

// RESTConfig loads a kubeconfig file, or the in-cluster configuration when path is empty.
func RESTConfig(path string) (*rest.Config, error) {
	if path == "" {
		if c, err := rest.InClusterConfig(); err == nil {
			return c, nil
		}
		path = os.Getenv("KUBECONFIG")
	}
	if path == "" {
		return nil, errors.New("no Kubernetes configuration: not in a cluster, and neither --kubeconfig nor KUBECONFIG is set")
	}
	c, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	return c, nil
}

// GitHubClients builds GitHub App clients (or development token clients) from configuration,
// reading the key or token from its file.
func GitHubClients(cfg config.GitHub, log *zap.Logger, m *githubapp.Metrics) (*githubapp.Clients, error) {
	if cfg.TokenFile != "" {
		token, err := readSecretFile("github.tokenFile", cfg.TokenFile)
		if err != nil {
			return nil, err
		}
		return githubapp.NewTokenClients(githubapp.TokenConfig{Token: strings.TrimSpace(string(token)), BaseURL: cfg.APIURL}, log, m)
	}
	key, err := readSecretFile("github.privateKeyFile", cfg.PrivateKeyFile)
	if err != nil {
		return nil, err
	}
	return githubapp.NewApp(githubapp.AppConfig{AppID: cfg.AppID, PrivateKeyPEM: key, BaseURL: cfg.APIURL}, log, m)
}

func readSecretFile(field, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, fmt.Errorf("%s: %s is empty", field, path)
	}
	return b, nil
}

// WebhookSecrets reads the secret files now (failing when one is missing or empty) and returns a
// function that re-reads them at most every few seconds, so a rotated Secret mounted as a file is
// picked up without a restart.
func WebhookSecrets(files []string) (func() [][]byte, error) {
	read := func() ([][]byte, error) {
		var out [][]byte
		for _, f := range files {
			b, err := readSecretFile("github.webhookSecretFiles", f)
			if err != nil {
				return nil, err
			}
			out = append(out, []byte(strings.TrimRight(string(b), "\r\n")))
		}
		return out, nil
	}
	current, err := read()
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	last := time.Now()
	return func() [][]byte {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) > 10*time.Second {
			last = time.Now()
			if fresh, err := read(); err == nil {
				current = fresh
			}
		}
		return current
	}, nil
}

// Serve runs srv until ctx ends, then shuts it down gracefully.
func Serve(ctx context.Context, srv *http.Server, log *zap.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("listening", zap.String("addr", srv.Addr))
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", srv.Addr, err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
