package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/catalyst-preview/catalyst/config"
	"github.com/catalyst-preview/catalyst/e2e/ghsim"
	"github.com/catalyst-preview/catalyst/e2e/podfate"
	"github.com/catalyst-preview/catalyst/e2e/system"
	"github.com/catalyst-preview/catalyst/preview"
)

type demoOptions struct {
	TaskDelay        time.Duration
	ExitWhenDeployed bool
	Repo             string
}

func run(ctx context.Context, o demoOptions, out io.Writer) error {
	fmt.Fprintln(out, "Catalyst Preview demo — no credentials, nothing leaves this machine.")
	fmt.Fprintln(out, "The first run builds etcd, Kubernetes, KWOK and Tekton from Go modules: about 10–25 minutes on 2 cores, with progress below. Later runs start in seconds.")
	start := time.Now()
	console, err := consoleAddr()
	if err != nil {
		return err
	}
	sys, err := system.Start(ctx, system.Options{
		// the pull request comment links to the environment's page in the console
		Configure:    func(c *config.Config) { c.GitHub.DetailsURL = "http://" + console + "/environments/{namespace}" },
		Repositories: []string{o.Repo},
		Policy:       podfate.RunSteps(o.TaskDelay),
		Progress:     out,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := sys.Stop(); err != nil {
			fmt.Fprintln(out, "stop:", err)
		}
	}()
	stopConsole, err := startConsole(ctx, sys, console, out)
	if err != nil {
		return err
	}
	defer stopConsole()
	fmt.Fprintf(out, "\nready in %s\n", time.Since(start).Round(time.Second))

	opened := time.Now()
	d, err := sys.Sim.OpenPR(ctx, o.Repo, ghsim.PROptions{Author: "octocat", AuthorAssociation: "OWNER", Title: "Make the greeting friendlier"})
	if err != nil {
		return fmt.Errorf("open the simulated pull request: %w", err)
	}
	ns := preview.NamespaceName(o.Repo, d.Number)
	host := preview.PreviewHost(o.Repo, d.Number, sys.Config.Preview.Domain)
	kc, kubectl := sys.Cluster.Kubeconfig(), sys.Cluster.Kubectl()
	fmt.Fprintf(out, `
Opened pull request %s#%d (head %s). Where to look:
  console: http://%s/environments/%s (signed in as the development identity %q)
  %s --kubeconfig %s get namespaces -l catalyst.dev/managed=true
  %s --kubeconfig %s -n %s get pipelineruns,taskruns,pods,deployments,ingresses
  tkn --kubeconfig %s -n %s pipelinerun logs -L    (if tkn is installed: the deploy and health check
      steps' lines are the real preview-step's output; the build's and the git fetch's say they were simulated)
  go run ./cmd/previewctl --kubeconfig %s get %s#%d      (also: list, logs -f, explain, delete)
  logs: %s (trigger), %s (reporter)
The preview, http://%s, once deployed: no container runs on this machine, so a local stand-in for
the ingress controller answers for it and says so. Open %s
(*.localtest.me names resolve to 127.0.0.1 in public DNS), or: curl -H 'Host: %s' http://%s/
The pull request's conversation, as the GitHub simulator holds it, follows when it changes.
Press Ctrl-C to stop everything.
`, o.Repo, d.Number, d.HeadSHA[:7], console, ns, demoUser, kubectl, kc, kubectl, kc, ns, kc, ns, kc, o.Repo, d.Number, sys.Trigger.LogPath, sys.Reporter.LogPath,
		host, sys.Ingress.URL(host), host, sys.Ingress.Addr())

	last, shown := "", false
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "\nstopping...")
			return nil
		case <-tick.C:
		}
		c, err := sys.Sim.Conversation(o.Repo, d.Number)
		if err != nil {
			return err
		}
		conv := c.String()
		if conv != last {
			fmt.Fprintf(out, "\n──── %s ────\n%s\n", time.Now().Format("15:04:05"), conv)
			last = conv
		}
		if !shown && strings.Contains(conv, "http://"+host) && strings.Contains(conv, "success") {
			shown = true
			fmt.Fprintf(out, "preview reported %s after the pull request was opened\n", time.Since(opened).Round(time.Millisecond))
			showPreview(ctx, out, sys, host)
			showStepLogs(ctx, out, sys, ns)
			if o.ExitWhenDeployed {
				return nil
			}
		}
	}
}

// showPreview asks the ingress stand-in for the preview's page, as a browser would.
func showPreview(ctx context.Context, out io.Writer, sys *system.System, host string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+sys.Ingress.Addr()+"/", nil)
	if err != nil {
		return
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(out, "\nGET http://%s/ through the ingress stand-in: %v\n", host, err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	title := ""
	if _, rest, ok := strings.Cut(string(body), "<h1>"); ok {
		title, _, _ = strings.Cut(rest, "</h1>")
	}
	fmt.Fprintf(out, "\nGET http://%s/ through the ingress stand-in: %s, %q (%s)\n", host, resp.Status, title, sys.Ingress.URL(host))
}

// showStepLogs prints the end of every step's log as pods/log serves it (what tkn shows).
func showStepLogs(ctx context.Context, out io.Writer, sys *system.System, ns string) {
	pods, err := sys.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "tekton.dev/pipelineTask"})
	if err != nil {
		return
	}
	// The image build runs isolated in the builds namespace (docs/security.md); its pod names
	// the PR namespace it builds for.
	builds, err := sys.Kube.CoreV1().Pods(sys.Config.Preview.BuildNamespace).List(ctx, metav1.ListOptions{LabelSelector: preview.LabelRunNamespace + "=" + ns})
	if err == nil {
		for _, p := range builds.Items {
			if p.Labels["tekton.dev/pipelineTask"] == "" {
				p.Labels["tekton.dev/pipelineTask"] = "build"
			}
			pods.Items = append(pods.Items, p)
		}
	}
	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].CreationTimestamp.Before(&pods.Items[j].CreationTimestamp) })
	fmt.Fprintln(out, "\nStep logs (pods/log, as tkn shows them):")
	for _, p := range pods.Items {
		for _, c := range p.Spec.Containers {
			raw, err := sys.Kube.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name}).DoRaw(ctx)
			if err != nil {
				continue
			}
			lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
			if len(lines) > 4 {
				lines = append([]string{"…"}, lines[len(lines)-4:]...)
			}
			fmt.Fprintf(out, "  [%s : %s]\n    %s\n", p.Labels["tekton.dev/pipelineTask"], c.Name, strings.Join(lines, "\n    "))
		}
	}
}
