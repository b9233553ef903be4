/*
 * Unit tests for src/pool.c: pm_decide(), the process-manager strategy.
 * pool.c is linked whole (with scoreboard.c); worker_main() lives in
 * worker.c, which needs the PHP engine, so it is stubbed here: no test
 * ever forks a worker (nor opens a task queue).
 */
#include "pfpm.h"

#include <check.h>
#include <stdlib.h>
#include <unistd.h>

/* Stub of worker.c: pool_spawn()'s child branch, never reached here. */
void
worker_main(struct worker_ctx *w)
{
	(void)w;
	_exit(99);
}

/* Stubs of taskq.c: no pool here has task workers. */
struct taskq *
taskq_open(struct pool *p, const struct pool_conf *pc, int index, pid_t pid,
    char **cause)
{
	(void)p; (void)pc; (void)index; (void)pid;
	*cause = NULL;
	return NULL;
}

void
taskq_close(struct taskq *q)
{
	(void)q;
}

void
taskq_proc_exited(struct taskq *q, pid_t pid)
{
	(void)q; (void)pid;
}

static struct pool_conf
dynamic_conf(int max_children, int min_spare, int max_spare, int max_rate)
{
	struct pool_conf pc = { 0 };

	pc.name = (char *)"test";
	pc.pm = PM_DYNAMIC;
	pc.max_children = max_children;
	pc.min_spare_servers = min_spare;
	pc.max_spare_servers = max_spare;
	pc.start_servers = min_spare;
	pc.max_spawn_rate = max_rate;
	return pc;
}

/* static: spawn up to max_children, whatever the idle count. */
START_TEST(test_static)
{
	struct pool_conf pc = { 0 };
	int rate = 1;

	pc.pm = PM_STATIC;
	pc.max_children = 5;
	pc.max_spawn_rate = 32;
	ck_assert_int_eq(pm_decide(&pc, 0, 0, &rate), 5);
	ck_assert_int_eq(pm_decide(&pc, 3, 0, &rate), 2);
	ck_assert_int_eq(pm_decide(&pc, 3, 3, &rate), 2);
	ck_assert_int_eq(pm_decide(&pc, 4, 4, &rate), 1);
	ck_assert_int_eq(pm_decide(&pc, 5, 0, &rate), 0);
	ck_assert_int_eq(pm_decide(&pc, 5, 5, &rate), 0);
	/* More than max_children (after a reload lowered it): never negative. */
	ck_assert_int_eq(pm_decide(&pc, 7, 7, &rate), 0);
	ck_assert_int_eq(rate, 1);
}
END_TEST

/* ondemand: the accept path spawns, the periodic decision never does. */
START_TEST(test_ondemand)
{
	struct pool_conf pc = dynamic_conf(10, 2, 4, 32);
	int rate = 1, total, idle;

	pc.pm = PM_ONDEMAND;
	for (total = 0; total <= 12; total++)
		for (idle = 0; idle <= total; idle++)
			ck_assert_int_eq(pm_decide(&pc, total, idle, &rate), 0);
}
END_TEST

/* Below min_spare: spawn min(rate, needed, room); the rate doubles. */
START_TEST(test_dynamic_below_min_spare)
{
	struct pool_conf pc = dynamic_conf(20, 4, 8, 32);
	int rate = 1;

	ck_assert_int_eq(pm_decide(&pc, 0, 0, &rate), 1);
	ck_assert_int_eq(rate, 2);
	ck_assert_int_eq(pm_decide(&pc, 1, 1, &rate), 2);
	ck_assert_int_eq(rate, 4);
	/* needed (1) < rate (4) */
	ck_assert_int_eq(pm_decide(&pc, 3, 3, &rate), 1);
	ck_assert_int_eq(rate, 8);
	/* Satisfied: nothing to do and the rate starts over. */
	ck_assert_int_eq(pm_decide(&pc, 4, 4, &rate), 0);
	ck_assert_int_eq(rate, 1);
}
END_TEST

/* Busy processes do not count: needed = min_spare - idle. */
START_TEST(test_dynamic_needed_counts_idle_only)
{
	struct pool_conf pc = dynamic_conf(50, 5, 10, 32);
	int rate = 16;

	ck_assert_int_eq(pm_decide(&pc, 30, 2, &rate), 3);
	ck_assert_int_eq(rate, 32);
}
END_TEST

/* The rate doubles each round up to max_spawn_rate, never past it. */
START_TEST(test_dynamic_rate_doubles_to_cap)
{
	struct pool_conf pc = dynamic_conf(1000, 500, 600, 32);
	static const int want[] = { 1, 2, 4, 8, 16, 32, 32, 32 };
	int rate = 1, total = 0;
	size_t i;

	for (i = 0; i < sizeof want / sizeof want[0]; i++) {
		int n = pm_decide(&pc, total, 0, &rate);
		ck_assert_msg(n == want[i], "round %zu: %d, want %d", i, n, want[i]);
		ck_assert_int_le(rate, 32);
		total += n;	/* new children still starting: not idle */
	}
	ck_assert_int_eq(rate, 32);
}
END_TEST

START_TEST(test_dynamic_rate_cap_not_power_of_two)
{
	struct pool_conf pc = dynamic_conf(1000, 500, 600, 5);
	static const int want[] = { 1, 2, 4, 5, 5 };
	int rate = 1;
	size_t i;

	for (i = 0; i < sizeof want / sizeof want[0]; i++) {
		ck_assert_int_eq(pm_decide(&pc, 0, 0, &rate), want[i]);
		ck_assert_int_le(rate, 5);
	}
}
END_TEST

START_TEST(test_dynamic_rate_cap_one)
{
	struct pool_conf pc = dynamic_conf(100, 10, 20, 1);
	int rate = 1, i;

	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(pm_decide(&pc, i, i, &rate), 1);
		ck_assert_int_eq(rate, 1);
	}
}
END_TEST

/* The rate resets whenever the pool is satisfied or has too many idle. */
START_TEST(test_dynamic_rate_resets)
{
	struct pool_conf pc = dynamic_conf(100, 10, 20, 32);
	int rate = 16;

	ck_assert_int_eq(pm_decide(&pc, 15, 15, &rate), 0);	/* in range */
	ck_assert_int_eq(rate, 1);
	rate = 16;
	ck_assert_int_eq(pm_decide(&pc, 20, 20, &rate), 0);	/* = max_spare */
	ck_assert_int_eq(rate, 1);
	rate = 16;
	ck_assert_int_eq(pm_decide(&pc, 21, 21, &rate), -1);	/* > max_spare */
	ck_assert_int_eq(rate, 1);
	/* ... and the next shortage starts slowly again. */
	ck_assert_int_eq(pm_decide(&pc, 21, 5, &rate), 1);
	ck_assert_int_eq(rate, 2);
}
END_TEST

/* Spawning is limited by the room left under max_children. */
START_TEST(test_dynamic_room)
{
	struct pool_conf pc = dynamic_conf(20, 4, 8, 32);
	int rate = 8;

	ck_assert_int_eq(pm_decide(&pc, 18, 0, &rate), 2);
	rate = 8;
	ck_assert_int_eq(pm_decide(&pc, 19, 0, &rate), 1);
}
END_TEST

/* At (or above) max_children a short pool never spawns, nor speeds up. */
START_TEST(test_dynamic_at_max_children)
{
	struct pool_conf pc = dynamic_conf(20, 4, 8, 32);
	int rate, idle;

	for (idle = 0; idle < 4; idle++) {
		rate = 4;
		ck_assert_int_eq(pm_decide(&pc, 20, idle, &rate), 0);
		ck_assert_int_le(rate, 4);
		rate = 4;
		ck_assert_int_eq(pm_decide(&pc, 25, idle, &rate), 0);
		ck_assert_int_le(rate, 4);
	}
}
END_TEST

/* Above max_spare: stop one per round (-1), even at max_children. */
START_TEST(test_dynamic_above_max_spare)
{
	struct pool_conf pc = dynamic_conf(20, 4, 8, 32);
	int rate = 1;

	ck_assert_int_eq(pm_decide(&pc, 9, 9, &rate), -1);
	ck_assert_int_eq(pm_decide(&pc, 20, 9, &rate), -1);
	ck_assert_int_eq(pm_decide(&pc, 20, 20, &rate), -1);
	ck_assert_int_eq(pm_decide(&pc, 12, 8, &rate), 0);
	ck_assert_int_eq(pm_decide(&pc, 12, 4, &rate), 0);
}
END_TEST

/*
 * A whole simulated burst: every spawned child becomes idle by the next
 * round; the pool reaches min_spare without overshooting it.
 */
START_TEST(test_dynamic_simulation)
{
	struct pool_conf pc = dynamic_conf(50, 20, 30, 32);
	int rate = 1, total = 0, idle = 0, rounds = 0, n;

	while ((n = pm_decide(&pc, total, idle, &rate)) > 0) {
		total += n;
		idle += n;
		ck_assert_int_le(idle, pc.min_spare_servers);
		ck_assert_int_lt(++rounds, 10);
	}
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(idle, 20);
	ck_assert_int_eq(rounds, 5);	/* 1 + 2 + 4 + 8 + 5 */
	ck_assert_int_eq(rate, 1);
}
END_TEST

static Suite *
pool_suite(void)
{
	Suite *s = suite_create("pool");
	TCase *tc = tcase_create("pm_decide");

	tcase_add_test(tc, test_static);
	tcase_add_test(tc, test_ondemand);
	tcase_add_test(tc, test_dynamic_below_min_spare);
	tcase_add_test(tc, test_dynamic_needed_counts_idle_only);
	tcase_add_test(tc, test_dynamic_rate_doubles_to_cap);
	tcase_add_test(tc, test_dynamic_rate_cap_not_power_of_two);
	tcase_add_test(tc, test_dynamic_rate_cap_one);
	tcase_add_test(tc, test_dynamic_rate_resets);
	tcase_add_test(tc, test_dynamic_room);
	tcase_add_test(tc, test_dynamic_at_max_children);
	tcase_add_test(tc, test_dynamic_above_max_spare);
	tcase_add_test(tc, test_dynamic_simulation);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pool_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
