package broker_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// roundTrip registers a queue, subscribes, watches, delivers, pulls, acks
// and reads stats through b: every kind of call the broker makes.
func roundTrip(t *testing.T, b *broker.Broker) {
	t.Helper()
	ctx := t.Context()
	register(t, b, "q", `^t\.`)
	sub, err := b.Subscribe(ctx, "t.*")
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer func() { _ = sub.Close() }()
	w, err := b.Watch(ctx, "q")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer func() { _ = w.Close() }()
	deliver(t, b, "t.a", "f", "one")
	select {
	case ev := <-sub.Channel():
		if ev.Topic != "t.a" || string(ev.Body) != "one" {
			t.Fatalf("event %q %q", ev.Topic, ev.Body)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no pub/sub event")
	}
	select {
	case <-w.C():
	case <-time.After(waitTimeout):
		t.Fatal("no wake signal")
	}
	m := pull(t, b, "q")
	if string(m.Body) != "one" {
		t.Fatalf("pulled %q", m.Body)
	}
	ack(t, b, m)
	wantStats(t, b, "q", broker.QueueStats{Routed: true})
}

// TestTLS runs the broker against a redis-server that speaks only TLS,
// with certificates made for the test: rediss:// with the test's CA works
// end to end, and verification is on by default, so a client that does not
// trust the CA, or expects another name, is refused.
func TestTLS(t *testing.T) {
	t.Parallel()
	certs := testutil.NewCertsT(t)
	srv := testutil.StartTLSServerT(t, certs)
	url := "rediss://" + srv.Addr() + "/0"
	connect := func(t *testing.T, change func(*tls.Config)) *redis.Client {
		t.Helper()
		opts, err := redis.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		if opts.TLSConfig == nil || opts.TLSConfig.InsecureSkipVerify {
			t.Fatalf("rediss:// gives TLS config %+v; want verification on", opts.TLSConfig)
		}
		change(opts.TLSConfig)
		rdb := redis.NewClient(opts)
		t.Cleanup(func() { _ = rdb.Close() })
		return rdb
	}

	t.Run("trusted CA", func(t *testing.T) {
		t.Parallel()
		rdb := connect(t, func(c *tls.Config) { c.RootCAs = certs.Pool() })
		// The server has no plain port: whatever works here went over TLS.
		cfg, err := rdb.ConfigGet(t.Context(), "*port").Result()
		if err != nil {
			t.Fatal(err)
		}
		if cfg["port"] != "0" || !strings.HasSuffix(srv.Addr(), ":"+cfg["tls-port"]) {
			t.Fatalf("port %q, tls-port %q; want 0 and the server's port", cfg["port"], cfg["tls-port"])
		}
		roundTrip(t, newBroker(t, rdb, broker.Config{}))
	})
	t.Run("unknown CA", func(t *testing.T) {
		t.Parallel()
		rdb := connect(t, func(*tls.Config) {}) // the system's roots only
		err := newBroker(t, rdb, broker.Config{}).DeliverBytes(t.Context(), "t.a", "f", nil)
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Fatalf("deliver without the CA: %v, want x509.UnknownAuthorityError", err)
		}
	})
	t.Run("wrong name", func(t *testing.T) {
		t.Parallel()
		rdb := connect(t, func(c *tls.Config) { c.RootCAs, c.ServerName = certs.Pool(), "redis.example" })
		_, err := newBroker(t, rdb, broker.Config{}).Pull(t.Context(), "q")
		var wrong x509.HostnameError
		if !errors.As(err, &wrong) {
			t.Fatalf("pull with another server name: %v, want x509.HostnameError", err)
		}
	})
	t.Run("plain client", func(t *testing.T) {
		t.Parallel()
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
		t.Cleanup(func() { _ = rdb.Close() })
		if err := rdb.Ping(t.Context()).Err(); err == nil {
			t.Fatal("a plain-text client got an answer from the TLS port")
		}
	})
}

// TestPassword runs the broker against a server with requirepass: without
// the password, or with a wrong one, every call is refused; with it in the
// URL, everything works.
func TestPassword(t *testing.T) {
	t.Parallel()
	srv := testutil.StartServerT(t, "--requirepass", "s3cret")
	client := func(t *testing.T, url string) *redis.Client {
		t.Helper()
		opts, err := redis.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		rdb := redis.NewClient(opts)
		t.Cleanup(func() { _ = rdb.Close() })
		return rdb
	}
	for name, tc := range map[string]struct{ url, want string }{
		"no password":    {"redis://" + srv.Addr() + "/0", "NOAUTH"},
		"wrong password": {"redis://:guess@" + srv.Addr() + "/0", "WRONGPASS"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBroker(t, client(t, tc.url), broker.Config{})
			err := b.RegisterQueue(t.Context(), "q", ".")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("RegisterQueue: %v, want %s", err, tc.want)
			}
		})
	}
	t.Run("right password", func(t *testing.T) {
		t.Parallel()
		roundTrip(t, newBroker(t, client(t, "redis://:s3cret@"+srv.Addr()+"/0"), broker.Config{}))
	})
}
