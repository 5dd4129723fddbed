/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluicectl: commands are tables of { keyword, handler } matched exactly (as
 * bpftool does); every handler gets the words after its keyword and returns
 * 0 or -errno. With -j every command prints JSON, errors included.
 */
#ifndef SLUICE_CTL_H
#define SLUICE_CTL_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>

struct ctl {
	bool json;
	char socket[PATH_MAX];
	char pin_dir[PATH_MAX];
};

extern struct ctl ctl;

struct ctl_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

/* Finds argv[0] in cmds (exact match) and runs it with the rest. */
int ctl_dispatch(const struct ctl_cmd *cmds, const char *what, int argc, char **argv);

/* Prints an error (JSON {"error": ...} with -j) and returns err. */
__attribute__((format(printf, 2, 3))) int ctl_error(int err, const char *fmt, ...);
/* Prints j (takes it) as JSON. */
void ctl_print_json(json_t *j);
/* Labels as k=v,k=v ("-" when there are none), without a newline. */
void ctl_print_labels(json_t *labels);
/* GET path from the agent; *out is its JSON body. */
int ctl_agent_get(const char *path, json_t **out);

/* Strips -j/--json from argv (subcommands accept it anywhere before "--"). */
void ctl_take_json_flag(int *argc, char **argv);

int cmd_status(int argc, char **argv);
int cmd_endpoint(int argc, char **argv);
int cmd_ipam(int argc, char **argv);
int cmd_map(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
int cmd_lab(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_identity(int argc, char **argv);
int cmd_ct(int argc, char **argv);

#endif /* SLUICE_CTL_H */
