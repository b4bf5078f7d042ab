package scheduler

import (
	"testing"

	"github.com/fairwayhq/fairway/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }
