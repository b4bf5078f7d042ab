/*
 * clockshim: an LD_PRELOAD library that moves a process's wall clock by
 * FAIRWAY_CLOCK_OFFSET_MS milliseconds (negative: behind), so that tests can
 * run a real redis-server whose TIME disagrees with the test's own clock.
 * Monotonic clocks are left alone. It reads the kernel's clock with a raw
 * system call, so it needs no symbol lookup and nothing from the C library
 * that could call back into it while it starts.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long long offset_ns;

__attribute__((constructor)) static void clockshim_init(void) {
	const char *s = getenv("FAIRWAY_CLOCK_OFFSET_MS");
	if (s) offset_ns = atoll(s) * 1000000LL;
}

static int is_wall(clockid_t id) {
	return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
	long r = syscall(SYS_clock_gettime, id, ts);
	if (r != 0 || !is_wall(id) || offset_ns == 0) return (int)r;
	long long ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec + offset_ns;
	ts->tv_sec = ns / 1000000000LL;
	ts->tv_nsec = ns % 1000000000LL;
	return 0;
}

int gettimeofday(struct timeval *tv, void *tz) {
	(void)tz;
	struct timespec ts;
	int r = clock_gettime(CLOCK_REALTIME, &ts);
	if (r == 0 && tv) {
		tv->tv_sec = ts.tv_sec;
		tv->tv_usec = ts.tv_nsec / 1000;
	}
	return r;
}

time_t time(time_t *out) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (out) *out = ts.tv_sec;
	return ts.tv_sec;
}
