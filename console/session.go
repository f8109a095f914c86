package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Session is what the browser keeps between requests, sealed in a cookie: the console holds no
// session state, so any replica answers any request.
type Session struct {
	User   string   `json:"u"`
	Groups []string `json:"g,omitempty"`
	// Expiry of the ID token the identity came from; after it the refresh token is used.
	Expiry time.Time `json:"e"`
	// Refresh is the provider's refresh token; empty when it gave none (sign in again).
	Refresh string `json:"r,omitempty"`
	// SignedIn is when the user signed in: sessions end MaxSessionAge later, refresh or not.
	SignedIn time.Time `json:"s"`
	// CSRF is the session's token for actions (forms and X-CSRF-Token).
	CSRF string `json:"c"`
}

// loginState is kept in a short-lived cookie between the redirect to the provider and the
// callback: the PKCE verifier, the state and nonce that bind the callback to this browser.
type loginState struct {
	State    string    `json:"st"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	Next     string    `json:"x"`
	Expires  time.Time `json:"e"`
}

// sealer encrypts and authenticates cookie values with AES-256-GCM (so they are both signed
// and unreadable to the browser). The first key seals; every key opens, so a key can be
// rotated without signing everybody out.
type sealer struct {
	aeads []cipher.AEAD
}

// newSealer derives one AES-256 key from each secret (at least 32 bytes each).
func newSealer(secrets [][]byte) (*sealer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("session keys: at least one secret is required")
	}
	s := &sealer{}
	for i, secret := range secrets {
		if len(secret) < 32 {
			return nil, fmt.Errorf("session keys: secret %d has %d bytes, want at least 32", i+1, len(secret))
		}
		key, err := hkdf.Key(sha256.New, secret, nil, "catalyst-console cookie v1", 32)
		if err != nil {
			return nil, fmt.Errorf("session keys: %w", err)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("session keys: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("session keys: %w", err)
		}
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

// seal encrypts v as JSON. The cookie's name is authenticated too, so a value sealed for one
// cookie cannot be replayed as another.
func (s *sealer) seal(name string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	aead := s.aeads[0]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, []byte(name))), nil
}

var errBadCookie = errors.New("cookie does not open with any session key")

// open decrypts what seal produced into v.
func (s *sealer) open(name, value string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return errBadCookie
	}
	for _, aead := range s.aeads {
		if len(raw) < aead.NonceSize() {
			return errBadCookie
		}
		plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(name))
		if err != nil {
			continue
		}
		return json.Unmarshal(plain, v)
	}
	return errBadCookie
}

// cookieJar writes and reads sealed cookies. Values longer than one cookie may hold (a session
// with many groups) are split over name, name.1, name.2, ... up to maxChunks.
type cookieJar struct {
	sealer *sealer
	secure bool // Secure attribute and the __Host- prefix: the console is served over https
}

const (
	chunkSize = 3800 // a browser keeps at least 4096 bytes per cookie, name and attributes included
	maxChunks = 5
)

func (j cookieJar) name(base string) string {
	if j.secure {
		return "__Host-" + base
	}
	return base
}

// set seals v into the cookie base, valid for maxAge.
func (j cookieJar) set(w http.ResponseWriter, r *http.Request, base string, v any, maxAge time.Duration) error {
	name := j.name(base)
	value, err := j.sealer.seal(name, v)
	if err != nil {
		return fmt.Errorf("seal %s: %w", base, err)
	}
	var chunks []string
	for len(value) > chunkSize {
		chunks, value = append(chunks, value[:chunkSize]), value[chunkSize:]
	}
	chunks = append(chunks, value)
	if len(chunks) > maxChunks {
		return fmt.Errorf("seal %s: %d bytes is more than %d cookies hold (too many groups?)", base, len(value)+chunkSize*(len(chunks)-1), maxChunks)
	}
	for i := range maxChunks {
		c := j.cookie(chunkName(name, i), "", -1)
		if i < len(chunks) {
			c = j.cookie(chunkName(name, i), chunks[i], maxAge)
		} else if _, err := r.Cookie(c.Name); err != nil {
			continue // nothing left over to expire
		}
		http.SetCookie(w, c)
	}
	return nil
}

// get opens the cookie base into v; it fails when absent or tampered with.
func (j cookieJar) get(r *http.Request, base string, v any) error {
	name := j.name(base)
	var value string
	for i := range maxChunks {
		c, err := r.Cookie(chunkName(name, i))
		if err != nil {
			break
		}
		value += c.Value
	}
	if value == "" {
		return http.ErrNoCookie
	}
	return j.sealer.open(name, value, v)
}

// clear expires every chunk of the cookie base present in r.
func (j cookieJar) clear(w http.ResponseWriter, r *http.Request, base string) {
	name := j.name(base)
	for i := range maxChunks {
		if _, err := r.Cookie(chunkName(name, i)); err == nil {
			http.SetCookie(w, j.cookie(chunkName(name, i), "", -1))
		}
	}
}

func (j cookieJar) cookie(name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: j.secure, SameSite: http.SameSiteLaxMode}
	if maxAge < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge.Seconds())
	}
	return c
}

func chunkName(name string, i int) string {
	if i == 0 {
		return name
	}
	return name + "." + strconv.Itoa(i)
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
