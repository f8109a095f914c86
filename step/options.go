package step

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultRelease is the release name the pipelines use unless told otherwise.
const DefaultRelease = "preview"

// DeployOptions configure the deploy subcommand.
type DeployOptions struct {
	Release     string
	SourceDir   string   // the fetched repository; Chart and ValuesFiles are relative to it
	Chart       string   // chart directory or .tgz
	ValuesFiles []string // applied in order; empty entries are ignored
	Image       string   // registry/repo:tag built for the pull request
	ImageDigest string   // sha256:... reported by the build, set at Keys.ImageDigest
	Host        string   // preview host, set at Keys.Host
	URLScheme   string   // scheme of the url result: https or http
	// IngressClass is set at Keys.IngressClass when not empty.
	IngressClass      string
	Requests          map[string]string // set under Keys.Resources.requests
	Limits            map[string]string // set under Keys.Resources.limits
	Set               []string
	SetString         []string
	Keys              ValueKeys
	Timeout           time.Duration
	Wait              bool
	RollbackOnFailure bool
	MaxHistory        int
	Description       string
	ResultsDir        string
	Diagnose          DiagnoseOptions
}

// NewDeployOptions returns the flag defaults.
func NewDeployOptions() *DeployOptions {
	return &DeployOptions{
		Release:    DefaultRelease,
		URLScheme:  "https",
		Keys:       DefaultValueKeys,
		Timeout:    5 * time.Minute,
		Wait:       true,
		MaxHistory: 10,
		Diagnose:   DefaultDiagnoseOptions,
	}
}

// AddFlags binds the options to fs.
func (o *DeployOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Release, "release", o.Release, "Helm release name.")
	fs.StringVar(&o.SourceDir, "source-dir", o.SourceDir, "Directory of the fetched repository; --chart and --values are relative to it and may not leave it. Empty: paths are used as given.")
	fs.StringVar(&o.Chart, "chart", o.Chart, "Chart directory (or .tgz) to deploy.")
	fs.StringArrayVar(&o.ValuesFiles, "values", o.ValuesFiles, "Values file, repeatable; later files win. Empty values are ignored.")
	fs.StringVar(&o.Image, "image", o.Image, "Image built for the pull request (registry/repo:tag); sets the image repository and tag keys.")
	fs.StringVar(&o.ImageDigest, "image-digest", o.ImageDigest, "Digest of --image (sha256:...) reported by the build; sets --image-digest-key.")
	fs.StringVar(&o.Host, "host", o.Host, "Preview host; sets --host-key and the url result.")
	fs.StringVar(&o.URLScheme, "url-scheme", o.URLScheme, "Scheme of the url result: https or http.")
	fs.StringVar(&o.IngressClass, "ingress-class", o.IngressClass, "Ingress class; sets --ingress-class-key when not empty.")
	fs.StringToStringVar(&o.Requests, "requests", o.Requests, "Resource requests for the app, e.g. cpu=100m,memory=128Mi; set under --resources-key.")
	fs.StringToStringVar(&o.Limits, "limits", o.Limits, "Resource limits for the app, e.g. cpu=500m,memory=256Mi; set under --resources-key.")
	fs.StringArrayVar(&o.Set, "set", o.Set, "Helm --set value (key=value), repeatable; applied last.")
	fs.StringArrayVar(&o.SetString, "set-string", o.SetString, "Helm --set-string value, repeatable; applied last.")
	fs.StringVar(&o.Keys.ImageRepository, "image-repository-key", o.Keys.ImageRepository, "Values key of the image repository (empty: not set).")
	fs.StringVar(&o.Keys.ImageTag, "image-tag-key", o.Keys.ImageTag, "Values key of the image tag (empty: not set).")
	fs.StringVar(&o.Keys.ImageDigest, "image-digest-key", o.Keys.ImageDigest, "Values key of the image digest (empty: not set).")
	fs.StringVar(&o.Keys.Host, "host-key", o.Keys.Host, "Values key of the ingress host (empty: not set).")
	fs.StringVar(&o.Keys.IngressClass, "ingress-class-key", o.Keys.IngressClass, "Values key of the ingress class (empty: not set).")
	fs.StringVar(&o.Keys.Resources, "resources-key", o.Keys.Resources, "Values key of the container resources (empty: not set).")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the rollout.")
	fs.BoolVar(&o.Wait, "wait", o.Wait, "Wait until the release's workloads are ready.")
	fs.BoolVar(&o.RollbackOnFailure, "rollback-on-failure", o.RollbackOnFailure, "Roll back (or uninstall a first install) when the rollout fails; by default the failed resources are kept for diagnosis.")
	fs.IntVar(&o.MaxHistory, "max-history", o.MaxHistory, "Release revisions to keep (0: unlimited).")
	fs.StringVar(&o.Description, "description", o.Description, "Release description, e.g. the commit deployed.")
	fs.StringVar(&o.ResultsDir, "results-dir", o.ResultsDir, "Directory to write Tekton results to (url, release-revision); empty: none.")
	o.Diagnose.addFlags(fs)
}

// Validate checks the options without touching files or the cluster.
func (o *DeployOptions) Validate() error {
	var errs []error
	errs = append(errs, validateRelease(o.Release))
	if o.Chart == "" {
		errs = append(errs, errors.New("--chart is required"))
	}
	if o.Image != "" {
		if _, err := ParseImage(o.Image); err != nil {
			errs = append(errs, fmt.Errorf("--image: %w", err))
		}
	}
	if o.ImageDigest != "" && !digestRE.MatchString(o.ImageDigest) {
		errs = append(errs, fmt.Errorf("--image-digest %q is not sha256:<64 hex>", o.ImageDigest))
	}
	if o.Host != "" {
		if msgs := validation.IsDNS1123Subdomain(o.Host); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--host %q: %s", o.Host, strings.Join(msgs, "; ")))
		}
	}
	if o.URLScheme != "http" && o.URLScheme != "https" {
		errs = append(errs, fmt.Errorf("--url-scheme %q: must be https or http", o.URLScheme))
	}
	errs = append(errs, validateResources("--requests", o.Requests), validateResources("--limits", o.Limits))
	if o.Timeout <= 0 {
		errs = append(errs, errors.New("--timeout must be positive"))
	}
	if o.MaxHistory < 0 {
		errs = append(errs, errors.New("--max-history must not be negative"))
	}
	errs = append(errs, o.Diagnose.validate())
	return errors.Join(errs...)
}

func validateRelease(name string) error {
	if name == "" {
		return errors.New("--release is required")
	}
	// Helm's limit: release names are used in object names and labels.
	if msgs := validation.IsDNS1123Label(name); len(msgs) > 0 || len(name) > 53 {
		return fmt.Errorf("--release %q: must be a DNS-1123 label of at most 53 characters", name)
	}
	return nil
}

func validateResources(flag string, m map[string]string) error {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var errs []error
	for _, k := range names {
		if k != "cpu" && k != "memory" && k != "ephemeral-storage" {
			errs = append(errs, fmt.Errorf("%s: unknown resource %q (cpu, memory, ephemeral-storage)", flag, k))
			continue
		}
		if _, err := resource.ParseQuantity(m[k]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s=%q: %v", flag, k, m[k], err))
		}
	}
	return errors.Join(errs...)
}

func (o *DiagnoseOptions) addFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.LogLines, "diagnose-log-lines", o.LogLines, "On failure, last log lines printed per failing container.")
	fs.IntVar(&o.Events, "diagnose-events", o.Events, "On failure, most recent namespace events printed.")
}

func (o *DiagnoseOptions) validate() error {
	if o.LogLines < 0 || o.Events < 0 {
		return errors.New("--diagnose-log-lines and --diagnose-events must not be negative")
	}
	return nil
}

// HealthOptions configure the healthcheck subcommand.
type HealthOptions struct {
	Release               string
	URL                   string // base URL of the preview (the deploy's url result)
	Path                  string
	ConnectTo             string // host:port to dial instead of the URL's host
	Timeout               time.Duration
	RequestTimeout        time.Duration
	InsecureSkipTLSVerify bool
	Diagnose              DiagnoseOptions

	// Not flags: test seams for the pace of polling.
	PollInterval time.Duration
	Backoff      Backoff
}

// NewHealthOptions returns the flag defaults.
func NewHealthOptions() *HealthOptions {
	return &HealthOptions{Release: DefaultRelease, Path: "/healthz", Timeout: 5 * time.Minute, RequestTimeout: 10 * time.Second, Diagnose: DefaultDiagnoseOptions}
}

// AddFlags binds the options to fs.
func (o *HealthOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Release, "release", o.Release, "Helm release name.")
	fs.StringVar(&o.URL, "url", o.URL, "Base URL of the preview (the deploy step's url result).")
	fs.StringVar(&o.Path, "path", o.Path, "Health path appended to --url.")
	fs.StringVar(&o.ConnectTo, "connect-to", o.ConnectTo, "host:port to connect to instead of the URL's host, keeping its Host header and TLS name (e.g. the ingress controller's Service).")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "Overall time for the workloads to become available and the endpoint to answer 2xx.")
	fs.DurationVar(&o.RequestTimeout, "request-timeout", o.RequestTimeout, "Time limit of one HTTP attempt.")
	fs.BoolVar(&o.InsecureSkipTLSVerify, "insecure-skip-tls-verify", o.InsecureSkipTLSVerify, "Accept any TLS certificate (previews with self-signed certificates).")
	o.Diagnose.addFlags(fs)
}

// Validate checks the options.
func (o *HealthOptions) Validate() error {
	var errs []error
	errs = append(errs, validateRelease(o.Release))
	if o.URL == "" {
		errs = append(errs, errors.New("--url is required"))
	} else if _, err := healthURL(o.URL, o.Path); err != nil {
		errs = append(errs, err)
	}
	if !strings.HasPrefix(o.Path, "/") {
		errs = append(errs, fmt.Errorf("--path %q must start with /", o.Path))
	}
	if o.ConnectTo != "" {
		if _, port, err := net.SplitHostPort(o.ConnectTo); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("--connect-to %q: want host:port", o.ConnectTo))
		}
	}
	if o.Timeout <= 0 || o.RequestTimeout <= 0 {
		errs = append(errs, errors.New("--timeout and --request-timeout must be positive"))
	}
	errs = append(errs, o.Diagnose.validate())
	return errors.Join(errs...)
}

// CleanupOptions configure the cleanup subcommand.
type CleanupOptions struct {
	Release string
	Timeout time.Duration

	PollInterval time.Duration // not a flag
}

// NewCleanupOptions returns the flag defaults.
func NewCleanupOptions() *CleanupOptions {
	return &CleanupOptions{Release: DefaultRelease, Timeout: 5 * time.Minute}
}

// AddFlags binds the options to fs.
func (o *CleanupOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Release, "release", o.Release, "Helm release name.")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the release's objects to be gone.")
}

// Validate checks the options.
func (o *CleanupOptions) Validate() error {
	var errs []error
	errs = append(errs, validateRelease(o.Release))
	if o.Timeout <= 0 {
		errs = append(errs, errors.New("--timeout must be positive"))
	}
	return errors.Join(errs...)
}
