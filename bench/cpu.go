package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// cpuSample is the CPU time used so far by redis-server and by this process,
// to tell which side a throughput number is bound by.
type cpuSample struct {
	redis, self time.Duration
}

func takeCPU(ctx context.Context, rdb *redis.Client) (cpuSample, error) {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return cpuSample{}, err
	}
	var s cpuSample
	for line := range strings.SplitSeq(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_user" || k == "used_cpu_sys" {
			sec, _ := strconv.ParseFloat(v, 64)
			s.redis += time.Duration(sec * float64(time.Second))
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuSample{}, err
	}
	s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return s, nil
}

func (s cpuSample) sub(o cpuSample) string {
	return fmt.Sprintf("redis-server %v, bench process %v",
		(s.redis - o.redis).Round(time.Millisecond), (s.self - o.self).Round(time.Millisecond))
}
