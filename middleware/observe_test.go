package middleware_test

import (
	"reflect"
	"testing"

	"github.com/fairwayhq/fairway/middleware"
)

func TestScopeNameIsImportPath(t *testing.T) {
	t.Parallel()
	if got := reflect.TypeFor[middleware.RetryOption]().PkgPath(); got != middleware.ScopeName {
		t.Fatalf("ScopeName = %q; want the import path %q", middleware.ScopeName, got)
	}
}
