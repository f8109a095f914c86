package console

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/catalyst-preview/catalyst/e2e/cluster"
)

// artifactsRun names this package run's folder under e2e/artifacts for failure screenshots.
var artifactsRun = time.Now().Format("20060102-150405") + "-console-browser"

// chromium finds Debian's chromium (installed by .ci/run).
func chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("the browser tests need Chromium: apt-get install chromium (.ci/run installs it)")
	return ""
}

type browserOptions struct {
	noScript      bool
	width, height int64
}

// newBrowser starts a headless Chromium with a fresh profile that trusts the test identity
// provider's key (and no other certificate error). On failure the page is saved as a PNG under
// e2e/artifacts/.
func newBrowser(t testing.TB, o browserOptions) context.Context {
	t.Helper()
	if o.width == 0 {
		o.width, o.height = 1280, 900
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", idp.SPKIFingerprint()),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(int(o.width), int(o.height)),
	}
	// not t.Context(): it ends before the cleanup that takes the failure screenshot
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.WithoutCancel(t.Context()), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		if t.Failed() {
			screenshot(t, ctx)
		}
		cancel()
		cancelAlloc()
	})
	// The first call starts the browser: no timeout on it (it would stop the browser).
	vp := []chromedp.EmulateViewportOption{}
	if o.width < 600 {
		vp = append(vp, chromedp.EmulateMobile, chromedp.EmulatePortrait)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(o.width, o.height, vp...)); err != nil {
		t.Fatalf("start the browser: %v", err)
	}
	if o.noScript {
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatalf("disable JavaScript: %v", err)
		}
	}
	return ctx
}

func screenshot(t testing.TB, ctx context.Context) {
	root, err := cluster.RepoRoot()
	if err != nil {
		return
	}
	dir := filepath.Join(root, "e2e", "artifacts", artifactsRun)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100) /* 100: PNG */)
	if err != nil {
		t.Logf("screenshot: %v", err)
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	path := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".png")
	if err := os.WriteFile(path, png, 0o644); err == nil {
		t.Logf("screenshot of the failing page: %s", path)
	}
}

// run runs browser steps with a bound, failing the test on error.
func run(t testing.TB, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// signIn opens the console, is sent to the provider's sign-in page, chooses user there and is
// sent back to the console's list.
func signIn(t testing.TB, ctx context.Context, user string) {
	t.Helper()
	run(t, ctx,
		chromedp.Navigate(con.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`button[value="`+user+`"]`)),
		chromedp.Click(chromedp.CSS(`button[value="`+user+`"]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[normalize-space()="Environments"]`)),
	)
}

// text is the text of the first element matching the CSS selector.
func text(t testing.TB, ctx context.Context, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func eval[T any](t testing.TB, ctx context.Context, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}
