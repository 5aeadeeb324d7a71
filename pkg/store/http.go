package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultRetryFor is how long HTTP tries a request again after failures
// that may pass.
const DefaultRetryFor = 2 * time.Minute

// maxIndex bounds a directory index page.
const maxIndex = 64 << 20

// HTTP is a read-only store on a web server: base is the repository's
// URL (http:// or https://).
type HTTP struct {
	base   *url.URL
	Client *http.Client
	// RetryFor bounds the retries of one request (DefaultRetryFor when 0).
	RetryFor time.Duration
	// Requests, when set, is called once per request sent (for tests and
	// statistics).
	Requests func(method, key string)
}

var _ Store = (*HTTP)(nil)

// NewHTTP returns the store at rawURL.
func NewHTTP(rawURL string) (*HTTP, error) {
	u, err := url.Parse(strings.TrimSuffix(rawURL, "/") + "/")
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", rawURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("repository %s: not an http:// or https:// URL", rawURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("repository %s: a password in the URL would be shown and logged; this store takes none", u.Redacted())
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	tr.ResponseHeaderTimeout = 30 * time.Second
	// A request that stalls (a server that stops sending in the middle
	// of a body) ends and is tried again: no object takes minutes at a
	// usable rate (a chunk is at most a few MiB).
	return &HTTP{base: u, Client: &http.Client{Transport: tr, Timeout: 5 * time.Minute}}, nil
}

// Location is the repository's URL.
func (h *HTTP) Location() string { return strings.TrimSuffix(h.base.String(), "/") }

func (h *HTTP) url(key string) string {
	ref := &url.URL{Path: key}
	return h.base.ResolveReference(ref).String()
}

// Get reads object key.
func (h *HTTP) Get(ctx context.Context, key string, buf []byte, max int64) ([]byte, error) {
	var out []byte
	err := h.do(ctx, http.MethodGet, key, func(resp *http.Response) error {
		n := resp.ContentLength
		if n > max {
			return permanent(fmt.Errorf("%d bytes: %w (%d)", n, ErrTooLarge, max))
		}
		if n >= 0 && int64(cap(buf)) >= n {
			out = buf[:n]
			if _, err := io.ReadFull(resp.Body, out); err != nil {
				return fmt.Errorf("body cut short: %w", err)
			}
			return nil
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
		if err != nil {
			return fmt.Errorf("body cut short: %w", err)
		}
		if int64(len(b)) > max {
			return permanent(fmt.Errorf("more than %d bytes: %w", max, ErrTooLarge))
		}
		if n >= 0 && int64(len(b)) != n {
			return fmt.Errorf("body of %d bytes, %d announced", len(b), n)
		}
		out = b
		return nil
	})
	return out, err
}

// Stat returns the size of object key (HEAD's Content-Length).
func (h *HTTP) Stat(ctx context.Context, key string) (int64, error) {
	var n int64
	err := h.do(ctx, http.MethodHead, key, func(resp *http.Response) error {
		if resp.ContentLength < 0 {
			return permanent(errors.New("the server gave no size"))
		}
		n = resp.ContentLength
		return nil
	})
	return n, err
}

// List lists prefix from the server's index page of it.
func (h *HTTP) List(ctx context.Context, prefix string) ([]string, error) {
	var names []string
	err := h.do(ctx, http.MethodGet, prefix, func(resp *http.Response) error {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxIndex+1))
		if err != nil {
			return fmt.Errorf("body cut short: %w", err)
		}
		if len(b) > maxIndex {
			return permanent(fmt.Errorf("index page larger than %d bytes", maxIndex))
		}
		names = ParseIndex(b, resp.Header.Get("Content-Type"))
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return names, err
}

// permanentError marks a failure that trying again cannot mend.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return permanentError{err} }

// StatusError is an answer of the server that is not a success.
type StatusError struct {
	Code   int
	Status string
}

func (e *StatusError) Error() string {
	switch e.Code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return "access denied (" + e.Status + "): the server wants credentials, or does not serve this path"
	case http.StatusNotFound:
		return "not found (404)"
	}
	return "the server answered " + e.Status
}

// Is makes a 404 an fs.ErrNotExist.
func (e *StatusError) Is(target error) bool {
	return target == fs.ErrNotExist && e.Code == http.StatusNotFound
}

// do sends the request, with retries, and hands a successful answer to
// read; read's own errors are retried too unless marked permanent.
func (h *HTTP) do(ctx context.Context, method, key string, read func(*http.Response) error) error {
	u := h.url(key)
	retryFor := h.RetryFor
	if retryFor == 0 {
		retryFor = DefaultRetryFor
	}
	deadline := time.Now().Add(retryFor)
	wait := 100 * time.Millisecond
	for try := 1; ; try++ {
		err := h.once(ctx, method, u, key, read)
		if err == nil {
			return nil
		}
		var perm permanentError
		if errors.As(err, &perm) || !transient(err) || ctx.Err() != nil || time.Now().Add(wait).After(deadline) {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return fmt.Errorf("%s %s: %w", method, u, describe(err, try))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s %s: %w", method, u, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func (h *HTTP) once(ctx context.Context, method, u, key string, read func(*http.Response) error) error {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return permanent(err)
	}
	if h.Requests != nil {
		h.Requests(method, key)
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return &StatusError{Code: resp.StatusCode, Status: resp.Status}
	}
	return read(resp)
}

// transient reports whether a failure may pass if the request is sent
// again.
func transient(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code >= 500 || se.Code == http.StatusTooManyRequests || se.Code == http.StatusRequestTimeout
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns.IsTemporary || dns.IsTimeout
	}
	var cert *tls.CertificateVerificationError
	var unk x509.UnknownAuthorityError
	var host x509.HostnameError
	if errors.As(err, &cert) || errors.As(err, &unk) || errors.As(err, &host) {
		return false
	}
	return true // timeouts, refused and reset connections, cut bodies
}

// describe says what failed in words a technician can act on.
func describe(err error, tries int) error {
	after := ""
	if tries > 1 {
		after = fmt.Sprintf(" (after %d tries)", tries)
	}
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	var unk x509.UnknownAuthorityError
	var host x509.HostnameError
	switch {
	case errors.As(err, &dns):
		return fmt.Errorf("cannot resolve the server's name %s (DNS)%s: %w", dns.Name, after, err)
	case errors.As(err, &cert), errors.As(err, &unk), errors.As(err, &host):
		return fmt.Errorf("the server's TLS certificate does not check%s: %w", after, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("connection refused: is the server running%s? %w", after, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return err
	}
	var se *StatusError
	if errors.As(err, &se) {
		return fmt.Errorf("%w%s", err, after)
	}
	if after != "" {
		return fmt.Errorf("%w%s", err, after)
	}
	return err
}

var (
	hrefRE        = regexp.MustCompile(`(?i)<a\s[^>]*href\s*=\s*"([^"]*)"`)
	numericEntity = regexp.MustCompile(`&#(\d+);`)
)

// ParseIndex returns the names a web server's index page of a directory
// links to: entries of that directory only (no parent, no absolute links,
// no query links such as Apache's sort links), directories ending in "/".
// contentType selects nginx's JSON autoindex; anything else is read as
// HTML.
func ParseIndex(page []byte, contentType string) []string {
	var raw []string
	if strings.HasPrefix(contentType, "application/json") {
		var ents []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		}
		if json.Unmarshal(page, &ents) == nil {
			for _, e := range ents {
				n := url.PathEscape(e.Name)
				if e.Type == "directory" {
					n += "/"
				}
				raw = append(raw, n)
			}
		}
	} else {
		for _, m := range hrefRE.FindAllSubmatch(page, -1) {
			raw = append(raw, htmlUnescape(string(m[1])))
		}
	}
	var out []string
	for _, r := range raw {
		r = strings.TrimPrefix(r, "./")
		if r == "" || strings.ContainsAny(r, "?#") || strings.HasPrefix(r, "/") || strings.HasPrefix(r, "../") || strings.Contains(r, "://") {
			continue
		}
		n, err := url.PathUnescape(r)
		if err != nil {
			continue
		}
		name := strings.TrimSuffix(n, "/")
		if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
			continue
		}
		if strings.HasSuffix(n, "/") {
			name += "/"
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// htmlUnescape undoes the entities a server writes in an href.
func htmlUnescape(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	r := strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#39;", "'", "&#x27;", "'")
	s = r.Replace(s)
	// Numeric entities (Go's file server writes none, but others may).
	return numericEntity.ReplaceAllStringFunc(s, func(m string) string {
		n, err := strconv.Atoi(m[2 : len(m)-1])
		if err != nil || n <= 0 || n > 0x10FFFF {
			return m
		}
		return string(rune(n))
	})
}
