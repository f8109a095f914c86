package kubelogin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// refreshEarly: a token with less than this left is refreshed, so that kubectl never sends one
// that expires on the way (and a request started now still verifies at the apiserver).
const refreshEarly = time.Minute

// Cache keeps tokens in files, one per issuer, client and scopes, readable by the owner only.
// Every read-refresh-write happens under an exclusive file lock: kubectl runs the exec plugin
// once per process, and k9s or a shell loop run many at once, while a provider that rotates
// refresh tokens accepts each one once.
type Cache struct {
	// Dir holds the files; DefaultCacheDir() when empty.
	Dir string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// DefaultCacheDir is <user cache dir>/catalyst-preview/oidc.
func DefaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "catalyst-preview", "oidc")
}

func (c Cache) dir() string {
	if c.Dir == "" {
		return DefaultCacheDir()
	}
	return c.Dir
}

func (c Cache) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c Cache) file(p Provider) string {
	sum := sha256.Sum256([]byte(strings.Join(append([]string{p.Issuer, p.ClientID}, p.scopes()...), "\x00")))
	return filepath.Join(c.dir(), hex.EncodeToString(sum[:12])+".json")
}

// lock takes the provider's lock, waiting for another process holding it.
func (c Cache) lock(ctx context.Context, p Provider) (func(), error) {
	if err := os.MkdirAll(c.dir(), 0o700); err != nil {
		return nil, fmt.Errorf("token cache: %w", err)
	}
	l := flock.New(strings.TrimSuffix(c.file(p), ".json") + ".lock")
	ok, err := l.TryLockContext(ctx, 50*time.Millisecond)
	if err != nil || !ok {
		return nil, fmt.Errorf("token cache: lock %s: %w", l.Path(), errors.Join(err, ctx.Err()))
	}
	return func() { _ = l.Unlock() }, nil
}

func (c Cache) read(p Provider) (*Tokens, error) {
	data, err := os.ReadFile(c.file(p))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("token cache: %w", err)
	}
	var t Tokens
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, nil // a damaged file is as good as none: sign in again overwrites it
	}
	return &t, nil
}

// write replaces the file atomically (a reader never sees half of it).
func (c Cache) write(p Provider, t *Tokens) error {
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.dir(), ".tokens-*")
	if err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("token cache: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.file(p)); err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	return nil
}

// Store saves the tokens of a sign-in.
func (c Cache) Store(ctx context.Context, p Provider, t *Tokens) error {
	unlock, err := c.lock(ctx, p)
	if err != nil {
		return err
	}
	defer unlock()
	return c.write(p, t)
}

// Token returns a valid ID token for p: the cached one, or a refreshed one (written back). It
// fails with the command to sign in again when there is none and no refresh is possible.
func (c Cache) Token(ctx context.Context, p Provider) (*Tokens, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	// fast path without the lock: the file is replaced atomically
	if t, err := c.read(p); err == nil && t.validFor(c.now(), refreshEarly) {
		return t, nil
	}
	unlock, err := c.lock(ctx, p)
	if err != nil {
		return nil, err
	}
	defer unlock()
	t, err := c.read(p) // another process may have refreshed while we waited
	if err != nil {
		return nil, err
	}
	if t.validFor(c.now(), refreshEarly) {
		return t, nil
	}
	if t == nil || t.RefreshToken == "" {
		return nil, fmt.Errorf("%w with %s: run %s", errNoLogin, p.Issuer, loginHint(p))
	}
	s, err := p.discover(ctx, c.now)
	if err != nil {
		return nil, err
	}
	fresh, err := s.refresh(t)
	if err != nil {
		return nil, fmt.Errorf("the sign-in with %s cannot be renewed (%v): run %s", p.Issuer, err, loginHint(p))
	}
	if err := c.write(p, fresh); err != nil {
		return nil, err
	}
	return fresh, nil
}
