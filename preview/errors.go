package preview

import (
	"context"
	"errors"
	"fmt"
	"net"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Kind classifies the errors of the query layer, so that every surface answers alike: the CLI
// maps them to exit codes, the console to HTTP statuses, MCP tools to tool errors.
type Kind string

// Kinds of errors.
const (
	KindNotFound    Kind = "NotFound"    // no such environment (or pull request record)
	KindForbidden   Kind = "Forbidden"   // Kubernetes RBAC refused the caller
	KindInvalid     Kind = "Invalid"     // the request makes no sense: a malformed reference, retrying a closed PR
	KindConflict    Kind = "Conflict"    // the environment changed meanwhile (a push superseded a delete)
	KindUnavailable Kind = "Unavailable" // the cluster cannot be reached, or did not answer in time
	KindInternal    Kind = "Internal"    // anything else
)

// Error is an error of the query layer: a kind, a message for people, and the cause.
type Error struct {
	Kind Kind
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	if e.Msg == "" && e.Err != nil {
		return e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinels below by kind: errors.Is(err, preview.ErrNotFound).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Msg == "" && t.Err == nil && t.Kind == e.Kind
}

// Sentinels for errors.Is.
var (
	ErrNotFound    = &Error{Kind: KindNotFound}
	ErrForbidden   = &Error{Kind: KindForbidden}
	ErrInvalid     = &Error{Kind: KindInvalid}
	ErrConflict    = &Error{Kind: KindConflict}
	ErrUnavailable = &Error{Kind: KindUnavailable}
)

func newError(kind Kind, err error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...), Err: err}
}

// KindOf classifies any error: the query layer's own, Kubernetes API errors, network failures.
func KindOf(err error) Kind {
	var e *Error
	var netErr net.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Kind
	case apierrors.IsNotFound(err):
		return KindNotFound
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return KindForbidden
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		return KindConflict
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return KindInvalid
	case apierrors.IsTimeout(err), apierrors.IsServerTimeout(err), apierrors.IsServiceUnavailable(err),
		apierrors.IsTooManyRequests(err), errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr):
		return KindUnavailable
	}
	return KindInternal
}

// wrap turns a Kubernetes error into the query layer's error, prefixing the operation.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	kind := KindOf(err)
	msg := fmt.Sprintf(format, args...) + ": " + err.Error()
	return &Error{Kind: kind, Msg: msg, Err: err}
}
