/* The physical floor: ns per call of a no-op function, to be measured
 * untraced and with an entry uprobe / uretprobe / both on bench_nop.
 * usage: trapcost ITERATIONS   -> prints "ns_per_call <float>"
 * Timed in CPU time of the thread (trap and BPF program included), so that
 * other processes sharing the core do not inflate it. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

__attribute__((noinline)) void bench_nop(void)
{
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	struct timespec a, b;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	for (long i = 0; i < n; i++)
		bench_nop();
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	printf("ns_per_call %.3f\n",
	       ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / (double)n);
	return 0;
}
