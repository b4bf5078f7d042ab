package testutil

import "testing"

func TestMiniRedis(t *testing.T) {
	t.Parallel()
	mr, client := MiniRedis(t)
	if err := client.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := mr.Get("k"); err != nil || got != "v" {
		t.Fatalf("miniredis has k=%q (err %v); want v", got, err)
	}
}
