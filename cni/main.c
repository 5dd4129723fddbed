// SPDX-License-Identifier: Apache-2.0
/* The sluice CNI plugin binary: the runtime's environment and stdio to cni_run(). */
#include "cni.h"

extern char **environ;

int main(void)
{
	/* The error JSON is already on stdout; the spec asks for non-zero. */
	return cni_run((const char *const *)environ, stdin, stdout, stderr) ? 1 : 0;
}
