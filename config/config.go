// Package config is the one configuration file of Catalyst Preview (mounted from a ConfigMap):
// how to reach GitHub, how previews are named, built, limited and queued, and which repositories
// are configured. Load rejects unknown fields and names the field of every invalid value.
package config

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/catalyst-preview/catalyst/step/overlay"
)

// Config is the whole file.
type Config struct {
	GitHub       GitHub       `json:"github"`
	Preview      Preview      `json:"preview"`
	Repositories []Repository `json:"repositories"`
}

// GitHub says how to reach GitHub. Secrets are read from files, never from the file itself.
type GitHub struct {
	// APIURL is the REST base URL: https://api.github.com/ or https://HOST/api/v3/ for Enterprise.
	APIURL string `json:"apiURL,omitempty"`
	// AppID and PrivateKeyFile select GitHub App authentication (production).
	AppID          int64  `json:"appID,omitempty"`
	PrivateKeyFile string `json:"privateKeyFile,omitempty"`
	// TokenFile selects a personal access token instead of an App (development only).
	TokenFile string `json:"tokenFile,omitempty"`
	// CopyTokenToPreviews copies the token of TokenFile into every PR namespace for the
	// pipeline's git fetch. Off by default: that token carries all of its owner's rights, and
	// every pod of every preview could read it. Without it, token mode fetches anonymously.
	CopyTokenToPreviews bool `json:"copyTokenToPreviews,omitempty"`
	// WebhookSecretFiles holds one or two files; two let a secret be rotated without downtime.
	WebhookSecretFiles []string `json:"webhookSecretFiles"`
	// SetupDocsURL is linked from the notice on a pull request of an unconfigured repository.
	SetupDocsURL string `json:"setupDocsURL,omitempty"`
	// DetailsURL is a template for the Check Run details link, e.g. the console or the Tekton
	// Dashboard: {namespace} and {pipelinerun} are replaced. Empty: no link.
	DetailsURL string `json:"detailsURL,omitempty"`
}

// Preview holds the defaults every repository starts from.
type Preview struct {
	// Domain: previews are served at {pr}-{repo}.{domain}.
	Domain string `json:"domain"`
	// URLScheme of preview URLs: https (default) or http.
	URLScheme    string `json:"urlScheme,omitempty"`
	IngressClass string `json:"ingressClass,omitempty"`
	// IngressNamespace is where the ingress controller runs; the network policy lets it in.
	IngressNamespace string `json:"ingressNamespace,omitempty"`
	// AuxiliaryNamespaces may be reached from preview namespaces (image registry, shared services).
	AuxiliaryNamespaces []string `json:"auxiliaryNamespaces,omitempty"`
	// Registry receives preview images: {registry}/{repo}:pr-{n}-{sha12}.
	Registry string `json:"registry"`
	// BuilderImage and GitImage override the build task's images; empty keeps the pipeline's
	// defaults (BuildKit rootless, alpine/git).
	BuilderImage string `json:"builderImage,omitempty"`
	GitImage     string `json:"gitImage,omitempty"`
	// StepImage is the project's step image (cmd/preview-step): deploy, health check, cleanup.
	StepImage string `json:"stepImage,omitempty"`
	// HealthConnectTo is host:port the health check dials for every preview host (usually the
	// ingress controller's Service), keeping the preview's Host header and TLS name. Empty: the
	// preview host must resolve inside the cluster.
	HealthConnectTo string `json:"healthConnectTo,omitempty"`
	// HealthCABundle is PEM text of the certificate authorities an https health check trusts
	// (added to the step image's system roots): the CA of the ingress controller's certificate
	// when it is private. It travels to the health check as a PipelineRun param, so keep it to
	// the few certificates needed (at most 64 KiB).
	HealthCABundle string `json:"healthCABundle,omitempty"`
	// HealthInsecureSkipVerify makes an https health check accept any certificate. Explicit
	// opt-in for self-signed preview certificates; prefer HealthCABundle.
	HealthInsecureSkipVerify bool `json:"healthInsecureSkipVerify,omitempty"`
	// PipelineNamespace holds the Pipelines and Tasks copied into each preview namespace.
	PipelineNamespace string `json:"pipelineNamespace,omitempty"`
	DeployPipeline    string `json:"deployPipeline,omitempty"`
	// CleanupPipeline runs before a closed PR's namespace is deleted; empty skips it.
	CleanupPipeline *string `json:"cleanupPipeline,omitempty"`
	// GracefulTasks are pipeline tasks that must not be killed halfway (a helm upgrade): a run
	// superseded while one of them runs is stopped with StoppedRunFinally instead of Cancelled.
	GracefulTasks []string `json:"gracefulTasks,omitempty"`
	// SecretsNamespace holds the repositories' secrets that are copied into preview namespaces.
	SecretsNamespace string `json:"secretsNamespace,omitempty"`
	// DeployDrafts deploys draft pull requests too.
	DeployDrafts bool `json:"deployDrafts,omitempty"`
	// RequireLabel, when set, deploys only pull requests that carry this label.
	RequireLabel string `json:"requireLabel,omitempty"`
	// TrustedBots are logins treated as trusted authors (e.g. "dependabot[bot]").
	TrustedBots []string `json:"trustedBots,omitempty"`
	// ApprovalSticky keeps an /ok-to-test approval across later pushes; by default it is pinned
	// to the SHA it was given for.
	ApprovalSticky bool        `json:"approvalSticky,omitempty"`
	Quota          Quota       `json:"quota,omitempty"`
	LimitRange     LimitRange  `json:"limitRange,omitempty"`
	Concurrency    Concurrency `json:"concurrency,omitempty"`
	Retry          Retry       `json:"retry,omitempty"`
	// PipelineTimeout bounds one deploy PipelineRun.
	PipelineTimeout *metav1.Duration `json:"pipelineTimeout,omitempty"`
	// ResyncInterval: how often open PRs are listed from GitHub to repair missed webhooks.
	ResyncInterval *metav1.Duration `json:"resyncInterval,omitempty"`
	// TTL removes an environment that saw no push for this long (through the same path as
	// previewctl delete; the keep label catalyst.dev/keep=true exempts it). Unset or 0: never.
	TTL *metav1.Duration `json:"ttl,omitempty"`
	// TTLWarning is how long before that removal the pull request gets one warning comment.
	TTLWarning *metav1.Duration `json:"ttlWarning,omitempty"`
	// PipelineRunAnnotations are added to every PipelineRun (and so to its TaskRuns and pods):
	// cost attribution, Tekton Chains or Results settings, or a test harness's instructions.
	PipelineRunAnnotations map[string]string `json:"pipelineRunAnnotations,omitempty"`
	// PodSecurity is the Pod Security Standard enforced in preview namespaces, baseline (the
	// default) or restricted; warn and audit are always "restricted", so every deviation is
	// visible. "privileged" is refused: the image build, which needs more, runs in
	// BuildNamespace.
	PodSecurity string `json:"podSecurity,omitempty"`
	// BuildNamespace is where image builds run, as TaskRuns the trigger creates for each
	// pipeline's build step (Pod Security "privileged": rootless BuildKit needs unconfined
	// seccomp and AppArmor). Its ServiceAccount has no RBAC and no token; no PR's chart can
	// place a pod there.
	BuildNamespace string `json:"buildNamespace,omitempty"`
	// RegistryAuthSecret names a Secret in SecretsNamespace holding the registry push
	// credential (key .dockerconfigjson). It is copied into BuildNamespace for each build and
	// deleted when the build ends; it never enters a PR namespace. Empty: push anonymously.
	RegistryAuthSecret string `json:"registryAuthSecret,omitempty"`
	// Egress lists what pods may reach outside their namespace (DNS, API server, git host,
	// registry).
	Egress Egress `json:"egress,omitempty"`
}

// Quota is the ResourceQuota of a preview namespace (hard limits).
type Quota struct {
	Hard corev1.ResourceList `json:"hard,omitempty"`
}

// LimitRange gives containers in a preview namespace defaults and a ceiling.
type LimitRange struct {
	DefaultRequest corev1.ResourceList `json:"defaultRequest,omitempty"`
	Default        corev1.ResourceList `json:"default,omitempty"`
	Max            corev1.ResourceList `json:"max,omitempty"`
}

// Concurrency limits running deploy PipelineRuns; the rest wait as PipelineRunPending.
type Concurrency struct {
	Global        int `json:"global,omitempty"`
	PerRepository int `json:"perRepository,omitempty"`
}

// Retry governs automatic new attempts after infrastructure failures.
type Retry struct {
	MaxAttempts int              `json:"maxAttempts,omitempty"`
	BaseDelay   *metav1.Duration `json:"baseDelay,omitempty"`
}

// Repository configures one GitHub repository; unset fields take Preview's defaults.
type Repository struct {
	Name                string      `json:"name"` // owner/repo
	ChartPath           string      `json:"chartPath"`
	ValuesFile          string      `json:"valuesFile,omitempty"`
	Dockerfile          string      `json:"dockerfile,omitempty"`
	Context             string      `json:"context,omitempty"`
	HealthPath          string      `json:"healthPath,omitempty"`
	Secrets             []string    `json:"secrets,omitempty"`
	AuxiliaryNamespaces []string    `json:"auxiliaryNamespaces,omitempty"`
	Quota               *Quota      `json:"quota,omitempty"`
	LimitRange          *LimitRange `json:"limitRange,omitempty"`
	Concurrency         int         `json:"concurrency,omitempty"`
	// Values is the values overlay merged after the chart's values and the values file: Helm
	// values in which ${...} placeholders (package step/overlay: ${preview.host},
	// ${image.name}, ${image.tag}, ${image.digest}, ...) are replaced by the preview's facts on
	// every run. Maps merge key by key; a list is written whole. Unset: the default overlay
	// (image.repository/tag/digest, ingress.host/className) is applied where the chart's
	// schema accepts it.
	Values map[string]any `json:"values,omitempty"`
	// DependencyBuild fetches chart dependencies that are not vendored under charts/ from the
	// repositories Chart.yaml declares (file://, https, oci) on every deploy. Off: a missing
	// dependency fails the deploy with the fix.
	DependencyBuild bool `json:"dependencyBuild,omitempty"`
}

// Load reads, decodes strictly, defaults and validates the file at path.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes strictly (unknown fields are errors), applies defaults and validates.
func Parse(raw []byte) (*Config, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errors.New("config is empty")
	}
	var c Config
	if err := decodeStrict(raw, &c); err != nil {
		return nil, err
	}
	c.Default()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Defaults; exported so that docs and tests can show them.
const (
	DefaultAPIURL            = "https://api.github.com/"
	DefaultStepImage         = "ghcr.io/catalyst-preview/preview-step:latest"
	DefaultPipelineNamespace = "catalyst-system"
	DefaultDeployPipeline    = "catalyst-preview"
	DefaultCleanupPipeline   = "catalyst-cleanup"
	DefaultSecretsNamespace  = "catalyst-secrets"
	DefaultIngressNamespace  = "ingress-nginx"
	DefaultIngressClass      = "nginx"
	DefaultHealthPath        = "/healthz"
	DefaultSetupDocsURL      = "https://github.com/catalyst-preview/catalyst#configuration"
	DefaultGlobalConcurrency = 10
	DefaultRepoConcurrency   = 5
	DefaultMaxAttempts       = 3
	DefaultRetryBaseDelay    = 30 * time.Second
	DefaultPipelineTimeout   = 30 * time.Minute
	DefaultResyncInterval    = 5 * time.Minute
	DefaultTTLWarning        = 24 * time.Hour
)

// Default fills every unset field.
func (c *Config) Default() {
	g := &c.GitHub
	if g.APIURL == "" {
		g.APIURL = DefaultAPIURL
	}
	if !strings.HasSuffix(g.APIURL, "/") {
		g.APIURL += "/"
	}
	if g.SetupDocsURL == "" {
		g.SetupDocsURL = DefaultSetupDocsURL
	}
	p := &c.Preview
	setDefault(&p.URLScheme, "https")
	setDefault(&p.IngressClass, DefaultIngressClass)
	setDefault(&p.IngressNamespace, DefaultIngressNamespace)
	setDefault(&p.StepImage, DefaultStepImage)
	setDefault(&p.PipelineNamespace, DefaultPipelineNamespace)
	setDefault(&p.DeployPipeline, DefaultDeployPipeline)
	setDefault(&p.SecretsNamespace, DefaultSecretsNamespace)
	setDefault(&p.PodSecurity, DefaultPodSecurity)
	setDefault(&p.BuildNamespace, DefaultBuildNamespace)
	p.Egress.defaults()
	if p.CleanupPipeline == nil {
		s := DefaultCleanupPipeline
		p.CleanupPipeline = &s
	}
	if p.GracefulTasks == nil {
		p.GracefulTasks = []string{"deploy"}
	}
	if p.Quota.Hard == nil {
		p.Quota.Hard = corev1.ResourceList{
			corev1.ResourceRequestsCPU:    resource.MustParse("4"),
			corev1.ResourceRequestsMemory: resource.MustParse("8Gi"),
			corev1.ResourceLimitsCPU:      resource.MustParse("8"),
			corev1.ResourceLimitsMemory:   resource.MustParse("16Gi"),
			corev1.ResourcePods:           resource.MustParse("30"),
		}
	}
	defaultServiceQuota(p.Quota.Hard)
	lr := &p.LimitRange
	if lr.DefaultRequest == nil {
		lr.DefaultRequest = corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("100m"),
			corev1.ResourceMemory: resource.MustParse("128Mi"),
		}
	}
	if lr.Default == nil {
		lr.Default = corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("500m"),
			corev1.ResourceMemory: resource.MustParse("512Mi"),
		}
	}
	if lr.Max == nil {
		lr.Max = corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("4"),
			corev1.ResourceMemory: resource.MustParse("8Gi"),
		}
	}
	if p.Concurrency.Global == 0 {
		p.Concurrency.Global = DefaultGlobalConcurrency
	}
	if p.Concurrency.PerRepository == 0 {
		p.Concurrency.PerRepository = DefaultRepoConcurrency
	}
	if p.Retry.MaxAttempts == 0 {
		p.Retry.MaxAttempts = DefaultMaxAttempts
	}
	if p.Retry.BaseDelay == nil {
		p.Retry.BaseDelay = &metav1.Duration{Duration: DefaultRetryBaseDelay}
	}
	if p.PipelineTimeout == nil {
		p.PipelineTimeout = &metav1.Duration{Duration: DefaultPipelineTimeout}
	}
	if p.ResyncInterval == nil {
		p.ResyncInterval = &metav1.Duration{Duration: DefaultResyncInterval}
	}
	if p.TTL == nil {
		p.TTL = &metav1.Duration{}
	}
	if p.TTLWarning == nil {
		p.TTLWarning = &metav1.Duration{Duration: DefaultTTLWarning}
	}
	for i := range c.Repositories {
		r := &c.Repositories[i]
		setDefault(&r.HealthPath, DefaultHealthPath)
		setDefault(&r.Dockerfile, "Dockerfile")
		setDefault(&r.Context, ".")
		if r.Quota != nil && r.Quota.Hard != nil {
			defaultServiceQuota(r.Quota.Hard)
		}
	}
}

// defaultServiceQuota forbids LoadBalancer and NodePort Services unless the quota names them:
// in a preview they cost money and expose the pull request's code outside the ingress (and a
// LoadBalancer without a controller never becomes ready). Admission then refuses such a chart
// at once, with a message the deploy step reports on the pull request.
func defaultServiceQuota(hard corev1.ResourceList) {
	for _, name := range []corev1.ResourceName{corev1.ResourceServicesLoadBalancers, corev1.ResourceServicesNodePorts} {
		if _, set := hard[name]; !set {
			hard[name] = resource.MustParse("0")
		}
	}
}

func setDefault(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

// Validate reports the first invalid fields, each named by its path in the file.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	g := c.GitHub
	switch {
	case g.AppID != 0 && g.TokenFile != "":
		bad("github.tokenFile", "set either github.appID with github.privateKeyFile, or github.tokenFile, not both")
	case g.AppID != 0 && g.PrivateKeyFile == "":
		bad("github.privateKeyFile", "required with github.appID")
	case g.AppID == 0 && g.PrivateKeyFile != "":
		bad("github.appID", "required with github.privateKeyFile")
	case g.AppID < 0:
		bad("github.appID", "must be positive, got %d", g.AppID)
	case g.AppID == 0 && g.TokenFile == "":
		bad("github.appID", "required (or github.tokenFile for development)")
	}
	if n := len(g.WebhookSecretFiles); n == 0 || n > 2 {
		bad("github.webhookSecretFiles", "list one file, or two while rotating the secret (got %d)", n)
	}
	if !strings.HasPrefix(g.APIURL, "http://") && !strings.HasPrefix(g.APIURL, "https://") {
		bad("github.apiURL", "must be an http(s) URL, got %q", g.APIURL)
	}
	p := c.Preview
	if p.Domain == "" {
		bad("preview.domain", "required: previews are served at {pr}-{repo}.{domain}")
	} else if msgs := validation.IsDNS1123Subdomain(p.Domain); len(msgs) > 0 {
		bad("preview.domain", "%q is not a DNS name: %s", p.Domain, strings.Join(msgs, "; "))
	}
	if p.URLScheme != "https" && p.URLScheme != "http" {
		bad("preview.urlScheme", "must be https or http, got %q", p.URLScheme)
	}
	if p.Registry == "" {
		bad("preview.registry", "required: where preview images are pushed")
	}
	for field, ns := range map[string]string{
		"preview.pipelineNamespace": p.PipelineNamespace,
		"preview.secretsNamespace":  p.SecretsNamespace,
		"preview.ingressNamespace":  p.IngressNamespace,
	} {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			bad(field, "%q is not a namespace name: %s", ns, strings.Join(msgs, "; "))
		}
	}
	for i, ns := range p.AuxiliaryNamespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			bad(fmt.Sprintf("preview.auxiliaryNamespaces[%d]", i), "%q is not a namespace name", ns)
		}
	}
	for k := range p.PipelineRunAnnotations {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			bad("preview.pipelineRunAnnotations", "%q is not an annotation key: %s", k, strings.Join(msgs, "; "))
		}
	}
	if p.HealthCABundle != "" {
		if err := checkCABundle(p.HealthCABundle); err != nil {
			bad("preview.healthCABundle", "%v", err)
		}
		if p.HealthInsecureSkipVerify {
			bad("preview.healthInsecureSkipVerify", "set either preview.healthCABundle or preview.healthInsecureSkipVerify, not both")
		}
	}
	c.validateSecurity(bad)
	if p.Concurrency.Global < 0 {
		bad("preview.concurrency.global", "must not be negative")
	}
	if p.Concurrency.PerRepository < 0 {
		bad("preview.concurrency.perRepository", "must not be negative")
	}
	if p.Retry.MaxAttempts < 1 || p.Retry.MaxAttempts > 10 {
		bad("preview.retry.maxAttempts", "must be between 1 and 10, got %d", p.Retry.MaxAttempts)
	}
	if p.Retry.BaseDelay.Duration <= 0 {
		bad("preview.retry.baseDelay", "must be positive")
	}
	if p.PipelineTimeout.Duration <= 0 {
		bad("preview.pipelineTimeout", "must be positive")
	}
	if p.ResyncInterval.Duration < 10*time.Second {
		bad("preview.resyncInterval", "must be at least 10s, got %s", p.ResyncInterval.Duration)
	}
	switch {
	case p.TTL.Duration < 0:
		bad("preview.ttl", "must not be negative (0 or unset: environments never expire)")
	case p.TTLWarning.Duration < 0:
		bad("preview.ttlWarning", "must not be negative")
	case p.TTL.Duration > 0 && p.TTLWarning.Duration >= p.TTL.Duration:
		bad("preview.ttlWarning", "must be shorter than preview.ttl (%s), got %s", p.TTL.Duration, p.TTLWarning.Duration)
	}
	seen := map[string]int{}
	for i, r := range c.Repositories {
		field := fmt.Sprintf("repositories[%d]", i)
		owner, name, ok := strings.Cut(r.Name, "/")
		if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
			bad(field+".name", "must be owner/repo, got %q", r.Name)
		}
		key := strings.ToLower(r.Name)
		if j, dup := seen[key]; dup {
			bad(field+".name", "%q is already configured at repositories[%d]", r.Name, j)
		}
		seen[key] = i
		if r.ChartPath == "" {
			bad(field+".chartPath", "required: the chart in the repository to deploy")
		} else if strings.HasPrefix(r.ChartPath, "/") || strings.Contains(r.ChartPath, "..") {
			bad(field+".chartPath", "must be a relative path inside the repository, got %q", r.ChartPath)
		}
		if strings.HasPrefix(r.ValuesFile, "/") || strings.Contains(r.ValuesFile, "..") {
			bad(field+".valuesFile", "must be a relative path inside the repository, got %q", r.ValuesFile)
		}
		if !strings.HasPrefix(r.HealthPath, "/") {
			bad(field+".healthPath", "must start with /, got %q", r.HealthPath)
		}
		if r.Concurrency < 0 {
			bad(field+".concurrency", "must not be negative")
		}
		if err := overlay.Validate(r.Values); err != nil {
			for _, e := range unjoin(err) {
				var oe *overlay.Error
				if errors.As(e, &oe) && oe.Path != "" {
					bad(field+".values."+oe.Path, "%s", oe.Msg)
					continue
				}
				bad(field+".values", "%v", e)
			}
		}
		for j, s := range r.Secrets {
			if msgs := validation.IsDNS1123Subdomain(s); len(msgs) > 0 {
				bad(fmt.Sprintf("%s.secrets[%d]", field, j), "%q is not a Secret name", s)
			}
		}
	}
	return errors.Join(errs...)
}

// MaxCABundleBytes bounds preview.healthCABundle, which travels in every PipelineRun.
const MaxCABundleBytes = 64 << 10

// checkCABundle accepts PEM text made only of certificates, at least one.
func checkCABundle(text string) error {
	if len(text) > MaxCABundleBytes {
		return fmt.Errorf("%d bytes, at most %d: keep only the certificate authorities of the preview ingress", len(text), MaxCABundleBytes)
	}
	rest := []byte(text)
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		n++
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("PEM block %d is %q, want CERTIFICATE", n, block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("PEM block %d: %w", n, err)
		}
	}
	if n == 0 {
		return errors.New("no PEM certificate found")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return errors.New("text after the last PEM certificate")
	}
	return nil
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Repository returns the configuration of owner/repo (case-insensitive, as GitHub names are).
func (c *Config) Repository(fullName string) (Repository, bool) {
	for _, r := range c.Repositories {
		if strings.EqualFold(r.Name, fullName) {
			return r, true
		}
	}
	return Repository{}, false
}
