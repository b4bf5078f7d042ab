package broker_test

import (
	"testing"

	"github.com/fairwayhq/fairway/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }
