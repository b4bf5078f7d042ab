package cli_test

import (
	"strings"
	"testing"

	"github.com/fairwayhq/fairway/cmd/fairway/internal/cli"
	"github.com/fairwayhq/fairway/internal/testutil"
)

// The built binary warns, on every command that connects, of a Redis that
// may evict keys; "fairway check" names the policy and exits 1 for it, 0
// for noeviction.
func TestCheckEvictingRedis(t *testing.T) {
	t.Parallel()
	bin := buildFairway(t)
	for _, policy := range []string{"allkeys-lru", "noeviction"} {
		srv := testutil.StartServerT(t, "--maxmemory-policy", policy)
		url := "redis://" + srv.Addr() + "/0"
		evicting := policy != "noeviction"
		code, stderr := runBinary(t, bin, "check", "--redis", url)
		if want := map[bool]int{true: cli.ExitError, false: cli.ExitOK}[evicting]; code != want {
			t.Errorf("%s: check exited %d, want %d\n%s", policy, code, want, stderr)
		}
		for _, args := range [][]string{{"queues"}, {"check"}} {
			_, stderr := runBinary(t, bin, append(args, "--redis", url)...)
			warned := strings.Contains(stderr, "warning") && strings.Contains(stderr, policy) && strings.Contains(stderr, "noeviction")
			if warned != evicting {
				t.Errorf("%s: fairway %s warned %v, want %v:\n%s", policy, args[0], warned, evicting, stderr)
			}
		}
	}
}
