/*
 * sig.c - signal handling of etcd-medic-launch (see launch.h).
 *
 * SIGTERM, SIGINT, SIGHUP, SIGQUIT and SIGCHLD stay blocked except while
 * lx_wait() sits in ppoll() with the start mask; their handler records the
 * signal in `pending` and ppoll() returns EINTR.  Outside lx_wait() the
 * signals are blocked, so reading and clearing `pending` cannot race with
 * the handler, which itself runs with all five blocked.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "launch.h"

static const int handled[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD };
#define NHANDLED (sizeof(handled) / sizeof(handled[0]))

/* Signal handling's state: what came, and the mask to wait with (set once,
 * before the handlers are installed). */
static volatile sig_atomic_t pending;
static sigset_t startmask;

static void on_signal(int signo)
{
	pending = (sig_atomic_t)((unsigned)pending | (1u << signo));
}

int lx_sig_setup(void)
{
	sigset_t block;
	struct sigaction sa;

	sigemptyset(&block);
	for (size_t i = 0; i < NHANDLED; i++)
		sigaddset(&block, handled[i]);
	if (sigprocmask(SIG_BLOCK, &block, &startmask) != 0)
		return -1;
	/* The five must be deliverable while we wait, whatever we were
	 * started with. */
	for (size_t i = 0; i < NHANDLED; i++)
		sigdelset(&startmask, handled[i]);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_mask = block;
	sa.sa_flags = SA_NOCLDSTOP;
	for (size_t i = 0; i < NHANDLED; i++)
		if (sigaction(handled[i], &sa, NULL) != 0)
			return -1;
	return 0;
}

const sigset_t *lx_sig_startmask(void)
{
	return &startmask;
}

unsigned lx_sig_take(unsigned mask)
{
	unsigned got = (unsigned)pending & mask;

	pending = (sig_atomic_t)((unsigned)pending & ~mask);
	return got;
}

unsigned lx_sig_peek(void)
{
	return (unsigned)pending;
}

int lx_wait(struct pollfd *fds, nfds_t n, int64_t timeout_ms)
{
	struct timespec ts, *tsp = NULL;

	if (timeout_ms >= 0) {
		ts.tv_sec = (time_t)(timeout_ms / 1000);
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
		tsp = &ts;
	}
	return ppoll(fds, n, tsp, &startmask);
}

int64_t lx_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
