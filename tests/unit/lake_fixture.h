/* A lake in a fresh temporary folder per test case, for the cmocka suites
 * that open one: define FIXTURE_NAME ("lake", "shard", ...) before
 * including; the folder is /tmp/tarn-test-FIXTURE_NAME-XXXXXX and is removed
 * after each case. */
#ifndef TARN_TEST_LAKE_FIXTURE_H
#define TARN_TEST_LAKE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

static char lake_dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(lake_dir, sizeof(lake_dir), "/tmp/tarn-test-" FIXTURE_NAME "-XXXXXX");
	assert_non_null(mkdtemp(lake_dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", lake_dir);
	return system(cmd);
}

/* A writer's handle on lake_dir; fails the case when it cannot open. */
static tarn_lake *open_lake(void)
{
	tarn_lake *lake = NULL;

	if (tarn_lake_open(&lake, lake_dir, 0))
		fail_msg("open: %s", tarn_error_last());
	return lake;
}

#endif
