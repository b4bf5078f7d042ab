package cli

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/fairwayhq/fairway/cmd/fairway/internal/dash"
)

var dashCmd = &command{
	name: "dash", args: "[--addr 127.0.0.1:8080]", summary: "serve the web dashboard until Ctrl-C",
	help: `Binds 127.0.0.1 by default. Binding any other address needs --token or --basic-auth;
then open http://HOST:PORT/?token=TOKEN once (it sets a cookie), or send
"Authorization: Bearer TOKEN". Put it behind TLS (a reverse proxy) off a trusted network.`,
	setup: func(fs *flag.FlagSet, a *app) func(context.Context, []string) error {
		getenv := a.env.Getenv
		if getenv == nil {
			getenv = func(string) string { return "" }
		}
		addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
		token := fs.String("token", getenv("FAIRWAY_DASH_TOKEN"), "require this token ($FAIRWAY_DASH_TOKEN)")
		basic := fs.String("basic-auth", getenv("FAIRWAY_DASH_BASIC_AUTH"), "require HTTP basic auth USER:PASSWORD ($FAIRWAY_DASH_BASIC_AUTH)")
		refresh := fs.Duration("refresh", 5*time.Second, "how often pages reload themselves")
		return func(ctx context.Context, args []string) error {
			if err := wantArgs(args, 0, 0, "no arguments"); err != nil {
				return err
			}
			if *refresh < time.Second {
				return usageError{fmt.Sprintf("--refresh %v: want at least 1s (pages reload in whole seconds)", *refresh)}
			}
			o := dash.Options{Token: *token, Refresh: *refresh}
			if *basic != "" {
				u, p, ok := strings.Cut(*basic, ":")
				if !ok || u == "" || p == "" {
					return usageError{"--basic-auth wants USER:PASSWORD, both non-empty"}
				}
				o.User, o.Password = u, p
			}
			if err := dash.CheckAddr(*addr, o.Token != "" || o.User != ""); err != nil {
				return usageError{strings.TrimPrefix(err.Error(), "dash: ")}
			}
			b, err := a.broker(ctx)
			if err != nil {
				return err
			}
			o.Broker = b
			d, err := dash.New(o)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", *addr)
			if err != nil {
				return fmt.Errorf("listen on %s: %w (is another program using the port? try --addr 127.0.0.1:0)", *addr, err)
			}
			return a.serve(ctx, ln, d.Handler())
		}
	},
}

// serve serves h on ln until ctx ends, then shuts down gracefully.
func (a *app) serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	printf(a.env.Stderr, "fairway dashboard on http://%s (namespace %q); Ctrl-C to stop\n", ln.Addr(), a.namespace)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = cmp.Or(err, serr)
	}
	return err
}
