package broker

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/fairwayhq/fairway/internal/testutil"
)

// TestScriptCommandsDocumented checks that the commands the Lua scripts
// call are exactly testutil.ACLScriptCommands, which the README's ACL rules
// grant to producers and workers (Redis checks a script's commands against
// the calling user's ACL). A script that calls a new command must add it
// there and to the README, or users with the documented rules break.
func TestScriptCommandsDocumented(t *testing.T) {
	t.Parallel()
	call := regexp.MustCompile(`redis\.p?call\(\s*'([A-Za-z_]+)'`)
	anyCall := regexp.MustCompile(`redis\.p?call\(`)
	used := map[string]bool{}
	err := fs.WalkDir(scriptFS, "scripts", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := scriptFS.ReadFile(path)
		if err != nil {
			return err
		}
		if n, m := len(anyCall.FindAll(src, -1)), len(call.FindAll(src, -1)); n != m {
			t.Errorf("%s: %d of %d redis.call()s do not name their command as a literal", path, n-m, n)
		}
		for _, m := range call.FindAllSubmatch(src, -1) {
			used[strings.ToLower(string(m[1]))] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for c := range used {
		got = append(got, c)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(testutil.ACLScriptCommands))
	if !slices.Equal(got, want) {
		t.Errorf("the scripts call %v\ntestutil.ACLScriptCommands (and the README's ACL rules) list %v", got, want)
	}
}
