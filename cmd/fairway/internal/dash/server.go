// Package dash serves Fairway's web dashboard: an overview of the queues
// with a throughput chart, a page per queue with its facets and controls,
// its dead letters (with a panic's stack), the periodic schedules, and a
// confirmation page to destroy a queue. Every asset is embedded; pages refresh themselves.
//
// It is safe by default: it refuses to serve a non-loopback address without
// a token or basic-auth credentials (see CheckAddr), every state-changing
// request is a POST carrying a per-process CSRF token and coming from the
// same origin, and everything from Redis is escaped by html/template.
package dash

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

//go:embed assets
var assets embed.FS

// Options configures a dashboard.
type Options struct {
	// Broker is the broker whose queues are shown. Required.
	Broker *broker.Broker
	// Token, when set, is required on every request: as a bearer token, or
	// once as ?token=... which sets a cookie.
	Token string
	// User and Password, when both set, are required as HTTP basic auth.
	User, Password string
	// Refresh is how often pages reload themselves. Defaults to 5s.
	Refresh time.Duration
	// Now is the clock for the history charts. Defaults to time.Now.
	Now func() time.Time
}

// Server is a dashboard; serve its Handler.
type Server struct {
	opts  Options
	b     *broker.Broker
	csrf  string
	tmpl  *template.Template
	cop   *http.CrossOriginProtection
	files http.Handler
}

// New returns a dashboard for o.Broker.
func New(o Options) (*Server, error) {
	if o.Broker == nil {
		return nil, errors.New("dash: nil broker")
	}
	if o.Refresh <= 0 {
		o.Refresh = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	var buf [32]byte
	_, _ = rand.Read(buf[:]) // never fails (crypto/rand)
	t, err := template.New("").Funcs(funcs).ParseFS(assets, "assets/templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("dash: templates: %w", err)
	}
	static, _ := fs.Sub(assets, "assets/static")
	return &Server{
		opts: o, b: o.Broker, csrf: hex.EncodeToString(buf[:]), tmpl: t,
		cop:   http.NewCrossOriginProtection(),
		files: http.StripPrefix("/assets/", http.FileServerFS(static)),
	}, nil
}

// CheckAddr refuses to listen on addr when it is not a loopback address and
// no authentication is configured.
func CheckAddr(addr string, auth bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("dash: bad address %q: %w; want HOST:PORT, e.g. 127.0.0.1:8080", addr, err)
	}
	if auth || isLoopback(host) {
		return nil
	}
	return fmt.Errorf("dash: refusing to serve %s without authentication: it is not a loopback address; "+
		"set --token or --basic-auth USER:PASSWORD, or bind 127.0.0.1", addr)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) authConfigured() bool {
	return s.opts.Token != "" || (s.opts.User != "" && s.opts.Password != "")
}

// Handler is the dashboard's HTTP handler, with its security checks.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.overview)
	mux.HandleFunc("GET /q/{queue}", s.queuePage)
	mux.HandleFunc("GET /q/{queue}/dead", s.deadPage)
	mux.HandleFunc("GET /q/{queue}/destroy", s.destroyPage)
	mux.HandleFunc("GET /schedules", s.schedulesPage)
	mux.HandleFunc("POST /schedules/forget", s.forgetSchedule)
	mux.HandleFunc("POST /q/{queue}/action", s.action)
	mux.Handle("GET /assets/", s.files)
	return s.secure(mux)
}

// secure wraps h with security headers, the Host check, authentication and
// CSRF protection.
func (s *Server) secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		// Without authentication, only loopback names may be used, so that a
		// web page cannot reach the dashboard by DNS rebinding.
		if !s.authConfigured() && !isLoopback(strings.Trim(host, "[]")) {
			http.Error(w, "dash: unexpected Host header; open the dashboard as http://127.0.0.1:PORT", http.StatusMisdirectedRequest)
			return
		}
		if !s.authenticate(w, r) {
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := s.cop.Check(r); err != nil {
				http.Error(w, "dash: cross-origin request refused", http.StatusForbidden)
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) != 1 {
				http.Error(w, "dash: missing or wrong CSRF token; reload the page and try again", http.StatusForbidden)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

const tokenCookie = "fairway_dash_token"

// authenticate checks the token or basic-auth credentials, answering 401
// when they are missing or wrong.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.User != "" && s.opts.Password != "" {
		u, p, ok := r.BasicAuth()
		if ok && equal(u, s.opts.User) && equal(p, s.opts.Password) {
			return true
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="fairway", charset="UTF-8"`)
		http.Error(w, "dash: authentication required", http.StatusUnauthorized)
		return false
	}
	if s.opts.Token == "" {
		return true
	}
	if equal(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), s.opts.Token) {
		return true
	}
	if c, err := r.Cookie(tokenCookie); err == nil && equal(c.Value, s.opts.Token) {
		return true
	}
	if q := r.URL.Query(); r.Method == http.MethodGet && equal(q.Get("token"), s.opts.Token) {
		http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: s.opts.Token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		q.Del("token")
		u := *r.URL
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
		return false
	}
	http.Error(w, "dash: authentication required: open the dashboard with ?token=YOUR_TOKEN once, or send Authorization: Bearer YOUR_TOKEN", http.StatusUnauthorized)
	return false
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
