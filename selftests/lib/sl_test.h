/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Common main() for the cmocka test programs: TAP output for selftests/run,
 * and the runner's name filter (SLUICE_TEST_FILTER, a glob) honoured.
 *
 *   static const struct CMUnitTest tests[] = { cmocka_unit_test(test_x), ... };
 *   SL_TEST_MAIN(tests, group_setup, group_teardown)
 */
#ifndef SLUICE_SL_TEST_H
#define SLUICE_SL_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#define SL_TEST_MAIN(tests, setup, teardown)                                            \
	int main(void)                                                                 \
	{                                                                              \
		const char *filter = getenv("SLUICE_TEST_FILTER");                     \
		if (filter && *filter)                                                 \
			cmocka_set_test_filter(filter);                                \
		cmocka_set_message_output(CM_OUTPUT_TAP);                              \
		return cmocka_run_group_tests(tests, setup, teardown);                 \
	}

#endif /* SLUICE_SL_TEST_H */
