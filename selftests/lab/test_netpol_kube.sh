#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The NetworkPolicy truth tables of test_netpol.sh, with the agents reading
# every object from an API server (sluiced --k8s-source kube) — the fake API
# server of selftests/lib/fake_apiserver.py, speaking the real list and watch
# protocol — instead of the lab's manifest directory.
NP_SOURCE=kube exec "$(dirname "$0")/test_netpol.sh"
