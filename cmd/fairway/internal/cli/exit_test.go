package cli_test

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/cmd/fairway/internal/cli"
	"github.com/fairwayhq/fairway/internal/testutil"
)

// buildFairway builds the fairway command into a directory of t.
func buildFairway(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to build fairway: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "fairway")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, "github.com/fairwayhq/fairway/cmd/fairway").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runBinary runs bin with args and returns its exit code and stderr.
func runBinary(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{} // no $REDIS_URL or $FAIRWAY_NAMESPACE of the caller's
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stderr.String()
	}
	t.Fatalf("run %v: %v", args, err)
	return 0, ""
}

// TestExitCodes runs the built binary: a flag with a value that makes no
// sense is a usage error (2) found before connecting, so a Redis that is
// down (a closed port) does not turn it into "unreachable" (4); and a
// Redis that answers the connection with an error (a database number out
// of range, an unknown user) is reachable: the command failed (1).
func TestExitCodes(t *testing.T) {
	t.Parallel()
	bin := buildFairway(t)
	down := "redis://127.0.0.1:1/0"
	addr := testutil.RealRedis(t).Options().Addr
	locked := testutil.StartServerT(t, "--requirepass", "secret").Addr()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"timeout 0s", []string{"queues", "--timeout", "0s"}, cli.ExitUsage, "--timeout 0s"},
		{"negative timeout", []string{"queues", "--timeout", "-1s"}, cli.ExitUsage, "--timeout -1s"},
		{"peek -n 0", []string{"peek", "q", "-n", "0"}, cli.ExitUsage, "-n 0"},
		{"peek -n too many", []string{"peek", "q", "-n", "1001"}, cli.ExitUsage, "-n 1001"},
		{"facets --top 0", []string{"facets", "q", "--top", "0"}, cli.ExitUsage, "--top 0"},
		{"dead list --limit 0", []string{"dead", "list", "q", "--limit", "0"}, cli.ExitUsage, "--limit 0"},
		{"dead list --offset -1", []string{"dead", "list", "q", "--offset", "-1"}, cli.ExitUsage, "--offset -1"},
		{"deliver --delay -1s", []string{"deliver", `{"a":1}`, "--delay", "-1s"}, cli.ExitUsage, "--delay -1s"},
		{"register --partitions -1", []string{"register", "q", ".", "--partitions", "-1"}, cli.ExitUsage, "--partitions -1"},
		{"register --partitions too many", []string{"register", "q", ".", "--partitions", "257"}, cli.ExitUsage, "--partitions 257"},
		{"partitions 0", []string{"partitions", "q", "0"}, cli.ExitUsage, "partition count 0"},
		{"priority too high", []string{"priority", "q", "f", "1001"}, cli.ExitUsage, "priority 1001"},
		{"negative priority", []string{"priority", "q", "f", "-1"}, cli.ExitUsage, "priority -1"},
		{"negative limit", []string{"limit", "q", "-1"}, cli.ExitUsage, "limit -1"},
		{"dash --refresh 0s", []string{"dash", "--refresh", "0s"}, cli.ExitUsage, "--refresh 0s"},
		{"Redis down", []string{"queues", "--timeout", "2s"}, cli.ExitUnavailable, "cannot reach Redis"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stderr := runBinary(t, bin, append(tc.args, "--redis", down)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tc.code, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, url, want string
	}{
		{"DB index out of range", "redis://" + addr + "/99", "DB index is out of range"},
		{"unknown user", "redis://nobody:wrong@" + addr + "/0", "WRONGPASS"},
		{"no password", "redis://" + locked + "/0", "NOAUTH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stderr := runBinary(t, bin, "queues", "--redis", tc.url)
			if code != cli.ExitError || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "cannot reach") {
				t.Errorf("exit %d, stderr %q; want exit %d and %q, not \"cannot reach\"", code, stderr, cli.ExitError, tc.want)
			}
		})
	}
	t.Run("reachable", func(t *testing.T) {
		t.Parallel()
		if code, stderr := runBinary(t, bin, "queues", "--redis", "redis://"+addr+"/0", "--namespace", testutil.Namespace(t)); code != cli.ExitOK {
			t.Errorf("exit %d, stderr %q; want 0", code, stderr)
		}
	})
}
