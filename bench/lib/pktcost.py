#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turns `sl-pktcost -j` output into bench rows.

  pktcost.py FILE "0 100 1000 10000"

sl-pktcost (selftests/tools, the policy work's tool) times the production
programs with BPF_PROG_TEST_RUN at several policy sizes:
  {"programs": {NAME: {"xlated_insns", "verified_insns"}},
   "results": [{"rules": N, "trie_entries": E,
                "from_pod": {"new", "established", "denied", "established_1run"},
                "from_eni": {...}}]}
Rows (stdout, raw.tsv format):
  policy-scaling  sluice-policy-N  pkt-ns                       from_pod "new": the first packet
                                                                of an allowed connection, the packet
                                                                that walks the policy (report.json)
  policy-scaling  sluice-policy-N  pkt-ns-<program>-<figure>    every figure (report.md)
  program-size    <program>        xlated-insns / verified-insns
Counts without a figure go to stderr (na.tsv format).
"""
import json
import sys


def main():
    with open(sys.argv[1]) as f:
        data = json.load(f)
    results = {int(r["rules"]): r for r in data.get("results", []) if "rules" in r}
    if not results:
        sys.exit("no results[].rules in the output")
    for n in sys.argv[2].split():
        topo = "sluice-policy-%s" % n
        r = results.get(int(n))
        new = r and (r.get("from_pod") or {}).get("new")
        if not isinstance(new, (int, float)):
            print("policy-scaling\t%s\tpkt-ns\tsl-pktcost has no from_pod figure at %s rules" % (topo, n),
                  file=sys.stderr)
            continue
        print("policy-scaling\t%s\tpkt-ns\tns\t1\t%.1f" % (topo, new))
        for prog in ("from_pod", "from_eni"):
            for fig, v in (r.get(prog) or {}).items():
                if isinstance(v, (int, float)):
                    print("policy-scaling\t%s\tpkt-ns-%s-%s\tns\t1\t%.1f" % (topo, prog, fig, v))
        if isinstance(r.get("trie_entries"), int):
            print("policy-scaling\t%s\ttrie-entries\tentries\t1\t%d" % (topo, r["trie_entries"]))
    for prog, p in (data.get("programs") or {}).items():
        for k in ("xlated_insns", "verified_insns"):
            if isinstance(p.get(k), int):
                print("program-size\t%s\t%s\tinsns\t1\t%d" % (prog, k.replace("_", "-"), p[k]))


if __name__ == "__main__":
    main()
