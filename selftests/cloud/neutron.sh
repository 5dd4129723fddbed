#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A real OpenStack Keystone (v3) and Neutron (v2.0 API, ML2) from Debian's
# packages, plus the fake Nova of fake_nova.py, all on 127.0.0.1, for the
# tests of the openstack cloud provider. State, configs and logs live in one
# directory; processes are stopped by the PIDs written there.
#
#   neutron.sh install       apt packages if missing (python3-neutron, python3-keystone:
#                            about 2.5 min the first time, nothing afterwards)
#   neutron.sh start DIR     configure and start everything in DIR (a new directory under
#                            /tmp or /var/tmp); writes DIR/env (sourceable: OS_* of the
#                            "cni" user, ports, app credential, admin credentials)
#   neutron.sh stop DIR      stop what start started (by PID) and remove DIR
#   neutron.sh nova-kill DIR     SIGKILL the fake Nova (a crash: detaches in flight are lost)
#   neutron.sh nova-start DIR    start it again, on its port, with the servers and plugged
#                                ports it had (DIR/nova-state.json)
#
# What start builds (all through the real Keystone API):
#   projects service, demo; users admin/adminpw (admin), neutron and nova (admin in
#   service), cni/cnipw (member in demo) and an application credential of cni;
#   catalog: network -> neutron, compute -> the fake Nova (/v2.1), in RegionOne,
#   interfaces public and admin on 127.0.0.1 and internal on "localhost"; and a
#   RegionTwo whose endpoints point to a closed port (region selection tests).
# Neutron: ML2 with the "fakebind" mechanism driver written here (binding a port
# to a host makes it ACTIVE, as an L2 agent would), SQLite, no RabbitMQ
# (oslo.messaging's in-process fake driver), keystone auth with a 1 s token cache
# (so revocations are seen quickly).
set -euo pipefail

PY=/usr/bin/python3 # Debian's: a python3 earlier in PATH may not see dist-packages
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PKGS=(python3-neutron python3-keystone)

log() { printf '[neutron.sh %s] %s\n' "$(date +%T)" "$*" >&2; }

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # url seconds pid
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		curl -s -o /dev/null --max-time 2 "$1" && return 0
		kill -0 "$3" 2>/dev/null || { log "process $3 died while waiting for $1"; return 1; }
		sleep 0.1
	done
	log "timeout waiting for $1"
	return 1
}

jget() { "$PY" -c "import sys,json; print(json.load(sys.stdin)$1)"; }

do_install() {
	local missing=() p st
	for p in "${PKGS[@]}"; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[[ $st == "install ok installed" ]] || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	log "installing ${missing[*]} (takes a few minutes the first time)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
		{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
}

ks_token() { # user password project -> X-Subject-Token
	curl -sf -i -X POST "$KS/auth/tokens" -H 'Content-Type: application/json' \
		-d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"$1\",\"domain\":{\"name\":\"Default\"},\"password\":\"$2\"}}},\"scope\":{\"project\":{\"name\":\"$3\",\"domain\":{\"name\":\"Default\"}}}}}" |
		awk 'tolower($1)=="x-subject-token:" {print $2}' | tr -d '\r'
}

start_keystone() {
	local k=$DIR/keystone
	mkdir -p "$k"
	cat >"$k/keystone.conf" <<EOF
[DEFAULT]
use_stderr = true
[database]
connection = sqlite:///$k/keystone.sqlite
[token]
provider = fernet
expiration = ${KS_TOKEN_EXPIRATION:-3600}
[fernet_tokens]
key_repository = $k/fernet-keys
[fernet_receipts]
key_repository = $k/fernet-keys
[credential]
key_repository = $k/credential-keys
EOF
	local km=("$PY" -c 'import sys; from keystone.cmd.manage import main; sys.exit(main())' --config-file "$k/keystone.conf")
	# db_sync may print an eventlet traceback at interpreter exit; its rc is 0.
	"${km[@]}" db_sync >"$k/db_sync.log" 2>&1
	# WAL: without it Keystone on SQLite answers 500 "database is locked" on consecutive writes.
	"$PY" -c 'import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA journal_mode=WAL")' "$k/keystone.sqlite"
	"${km[@]}" fernet_setup --keystone-user root --keystone-group root >"$k/fernet.log" 2>&1
	"${km[@]}" credential_setup --keystone-user root --keystone-group root >"$k/cred.log" 2>&1
	"${km[@]}" bootstrap --bootstrap-password adminpw --bootstrap-admin-url "$KS/" \
		--bootstrap-public-url "$KS/" --bootstrap-internal-url "$KS/" \
		--bootstrap-region-id RegionOne >"$k/bootstrap.log" 2>&1
	cat >"$k/serve.py" <<'EOF'
# Keystone's WSGI app on the stdlib server, single-threaded: SQLite and a
# threaded server gave "database is locked". oslo.config parses sys.argv, so
# the port comes from the environment.
import os, sys
from wsgiref.simple_server import make_server, WSGIRequestHandler
from keystone.server.wsgi import initialize_public_application
class Quiet(WSGIRequestHandler):
    def log_message(self, *a):
        pass
port = int(os.environ["KS_PORT"])
sys.argv = sys.argv[:1]
app = initialize_public_application()
make_server("127.0.0.1", port, app, handler_class=Quiet).serve_forever()
EOF
	OS_KEYSTONE_CONFIG_FILES="$k/keystone.conf" KS_PORT=$KS_PORT setsid "$PY" "$k/serve.py" \
		>"$DIR/log/keystone.log" 2>&1 </dev/null &
	echo $! >"$DIR/keystone.pid"
	wait_http "$KS" 60 "$(cat "$DIR/keystone.pid")"
}

setup_keystone() {
	local T H svc sp dp u role r ifc url cni
	T=$(ks_token admin adminpw admin)
	H=(-H "Content-Type: application/json" -H "X-Auth-Token: $T")
	curl -sf -o /dev/null -X POST "$KS/regions" "${H[@]}" -d '{"region":{"id":"RegionTwo"}}'
	for svc in "network neutron http://127.0.0.1:$NT_PORT" "compute nova http://127.0.0.1:$NOVA_PORT/v2.1"; do
		set -- $svc
		local sid
		sid=$(curl -sf -X POST "$KS/services" "${H[@]}" -d "{\"service\":{\"type\":\"$1\",\"name\":\"$2\"}}" | jget '["service"]["id"]')
		for ifc in public internal admin; do
			url=$3
			[[ $ifc == internal ]] && url=${url/127.0.0.1/localhost}
			curl -sf -o /dev/null -X POST "$KS/endpoints" "${H[@]}" \
				-d "{\"endpoint\":{\"service_id\":\"$sid\",\"interface\":\"$ifc\",\"region_id\":\"RegionOne\",\"url\":\"$url\"}}"
		done
		curl -sf -o /dev/null -X POST "$KS/endpoints" "${H[@]}" \
			-d "{\"endpoint\":{\"service_id\":\"$sid\",\"interface\":\"public\",\"region_id\":\"RegionTwo\",\"url\":\"http://127.0.0.1:$DEAD_PORT\"}}"
	done
	sp=$(curl -sf -X POST "$KS/projects" "${H[@]}" -d '{"project":{"name":"service","domain_id":"default"}}' | jget '["project"]["id"]')
	dp=$(curl -sf -X POST "$KS/projects" "${H[@]}" -d '{"project":{"name":"demo","domain_id":"default"}}' | jget '["project"]["id"]')
	declare -A uid
	for u in neutron:neutronpw nova:novapw cni:cnipw; do
		uid[${u%%:*}]=$(curl -sf -X POST "$KS/users" "${H[@]}" \
			-d "{\"user\":{\"name\":\"${u%%:*}\",\"domain_id\":\"default\",\"password\":\"${u#*:}\"}}" | jget '["user"]["id"]')
	done
	role() { curl -sf "$KS/roles?name=$1" "${H[@]}" | jget '["roles"][0]["id"]'; }
	r=$(role admin)
	curl -sf -o /dev/null -X PUT "$KS/projects/$sp/users/${uid[neutron]}/roles/$r" "${H[@]}"
	curl -sf -o /dev/null -X PUT "$KS/projects/$sp/users/${uid[nova]}/roles/$r" "${H[@]}"
	r=$(role member)
	curl -sf -o /dev/null -X PUT "$KS/projects/$dp/users/${uid[cni]}/roles/$r" "${H[@]}"
	# an application credential of cni (scoped to demo, like the user's token)
	cni=$(ks_token cni cnipw demo)
	curl -sf -X POST "$KS/users/${uid[cni]}/application_credentials" -H "Content-Type: application/json" \
		-H "X-Auth-Token: $cni" -d '{"application_credential":{"name":"sluice","secret":"appsecret"}}' |
		jget '["application_credential"]["id"]' >"$DIR/appcred.id"
	cat >>"$DIR/env" <<EOF
OS_CNI_USER_ID=${uid[cni]}
OS_DEMO_PROJECT_ID=$dp
OS_APP_CRED_ID=$(cat "$DIR/appcred.id")
OS_APP_CRED_SECRET=appsecret
EOF
}

write_neutron() {
	local d=$DIR/neutron
	mkdir -p "$d/state" "$d/lock" "$d/py/nt_fakebind-0.1.dist-info"
	# Debian's /usr/share/neutron-common/api-paste.ini (python3-neutron alone does not ship it)
	cat >"$d/api-paste.ini" <<'EOF'
[composite:neutron]
use = egg:Paste#urlmap
/: neutronversions_composite
/healthcheck: healthcheck
/v2.0: neutronapi_v2_0
[composite:neutronapi_v2_0]
use = call:neutron.auth:pipeline_factory
noauth = cors http_proxy_to_wsgi request_id fake_project_id catch_errors osprofiler extensions neutronapiapp_v2_0
keystone = cors http_proxy_to_wsgi request_id catch_errors osprofiler authtoken keystonecontext extensions neutronapiapp_v2_0
[composite:neutronversions_composite]
use = call:neutron.auth:pipeline_factory
noauth = cors http_proxy_to_wsgi neutronversions
keystone = cors http_proxy_to_wsgi neutronversions
[filter:request_id]
paste.filter_factory = oslo_middleware:RequestId.factory
[filter:catch_errors]
paste.filter_factory = oslo_middleware:CatchErrors.factory
[filter:cors]
paste.filter_factory = oslo_middleware.cors:filter_factory
oslo_config_project = neutron
[filter:fake_project_id]
paste.filter_factory = neutron.auth:NoauthFakeProjectId.factory
[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware.http_proxy_to_wsgi:HTTPProxyToWSGI.factory
[filter:keystonecontext]
paste.filter_factory = neutron.auth:NeutronKeystoneContext.factory
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
[filter:extensions]
paste.filter_factory = neutron.api.extensions:plugin_aware_extension_middleware_factory
[app:neutronversions]
paste.app_factory = neutron.pecan_wsgi.app:versions_factory
[app:neutronapiapp_v2_0]
paste.app_factory = neutron.api.v2.router:APIRouter.factory
[filter:osprofiler]
paste.filter_factory = osprofiler.web:WsgiMiddleware.factory
[app:healthcheck]
paste.app_factory = oslo_middleware:Healthcheck.app_factory
backends = disable_by_file
disable_by_file_path = /nonexistent/healthcheck_disable
EOF
	cat >"$d/neutron.conf" <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $NT_PORT
core_plugin = ml2
service_plugins =
auth_strategy = keystone
api_paste_config = $d/api-paste.ini
transport_url = fake:/
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
dhcp_agent_notification = false
api_workers = 0
rpc_workers = 0
rpc_state_report_workers = 0
state_path = $d/state
use_stderr = true
[database]
connection = sqlite:///$d/state/neutron.sqlite
[oslo_concurrency]
lock_path = $d/lock
[ml2]
type_drivers = flat,vlan,vxlan
tenant_network_types = vxlan
mechanism_drivers = fakebind
extension_drivers = port_security
[ml2_type_vxlan]
vni_ranges = 1:1000
[keystone_authtoken]
www_authenticate_uri = $KS
auth_url = $KS
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = neutron
password = neutronpw
# validations cached 1 s (revocations show after it), no catalog in them: every
# request is validated and Keystone here is one thread on SQLite
token_cache_time = 1
include_service_catalog = false
EOF
	# The test mechanism driver: binds every port on any host, ACTIVE (an L2 agent's
	# job); ML2 loads drivers by entry-point name, hence the dist-info.
	cat >"$d/py/nt_fakebind.py" <<'EOF'
from neutron_lib.api.definitions import portbindings
from neutron_lib import constants as const
from neutron_lib.plugins.ml2 import api


class FakeBindDriver(api.MechanismDriver):
    def initialize(self):
        pass

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(segment[api.ID], portbindings.VIF_TYPE_OTHER, {},
                                status=const.PORT_STATUS_ACTIVE)
            return
EOF
	printf 'Metadata-Version: 2.1\nName: nt-fakebind\nVersion: 0.1\n' >"$d/py/nt_fakebind-0.1.dist-info/METADATA"
	printf '[neutron.ml2.mechanism_drivers]\nfakebind = nt_fakebind:FakeBindDriver\n' \
		>"$d/py/nt_fakebind-0.1.dist-info/entry_points.txt"
	# Alembic cannot migrate SQLite: build the schema from the models, as Neutron's own tests do.
	"$PY" - "sqlite:///$d/state/neutron.sqlite" <<'EOF'
import sys
import sqlalchemy as sa
from neutron.db.migration.models import head
head.get_metadata().create_all(sa.create_engine(sys.argv[1]))
EOF
	"$PY" -c 'import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA journal_mode=WAL")' "$d/state/neutron.sqlite"
}

start_neutron() {
	PYTHONPATH=$DIR/neutron/py setsid "$PY" -c 'import sys; from neutron.cmd.eventlet.server import main; sys.exit(main())' \
		--config-file "$DIR/neutron/neutron.conf" >"$DIR/log/neutron-server.log" 2>&1 </dev/null &
	echo $! >"$DIR/neutron.pid"
}

start_nova() {
	setsid "$PY" "$HERE/fake_nova.py" --port "$NOVA_PORT" --keystone "$KS" --neutron "http://127.0.0.1:$NT_PORT" \
		--user nova --password novapw --project service --state "$DIR/nova-state.json" \
		>>"$DIR/log/fake-nova.log" 2>&1 </dev/null &
	echo $! >"$DIR/nova.pid"
}

check_dir() {
	case "$DIR" in /tmp/?* | /var/tmp/?*) ;; *) log "DIR must be under /tmp or /var/tmp: $DIR"; return 1 ;; esac
}

do_start() {
	local t0=$SECONDS
	check_dir
	if [[ -e $DIR && -n $(ls -A "$DIR" 2>/dev/null) ]]; then
		log "$DIR is not empty"
		return 1
	fi
	do_install
	mkdir -p "$DIR/log"
	KS_PORT=$(free_port)
	NT_PORT=$(free_port)
	NOVA_PORT=$(free_port)
	DEAD_PORT=$(free_port) # nothing listens there
	KS=http://127.0.0.1:$KS_PORT/v3
	cat >"$DIR/env" <<EOF
KS_PORT=$KS_PORT
NT_PORT=$NT_PORT
NOVA_PORT=$NOVA_PORT
DEAD_PORT=$DEAD_PORT
OS_AUTH_URL=$KS
OS_USERNAME=cni
OS_PASSWORD=cnipw
OS_PROJECT_NAME=demo
OS_USER_DOMAIN_NAME=Default
OS_PROJECT_DOMAIN_NAME=Default
OS_REGION_NAME=RegionOne
OS_INTERFACE=public
OS_ADMIN_USERNAME=admin
OS_ADMIN_PASSWORD=adminpw
NEUTRON_URL=http://127.0.0.1:$NT_PORT
NOVA_URL=http://127.0.0.1:$NOVA_PORT
EOF
	# Neutron's schema is built while Keystone starts.
	write_neutron &
	local wn=$!
	start_keystone
	setup_keystone
	wait "$wn"
	start_neutron
	start_nova
	wait_http "http://127.0.0.1:$NT_PORT/" 120 "$(cat "$DIR/neutron.pid")"
	wait_http "http://127.0.0.1:$NOVA_PORT/_fake/stats" 30 "$(cat "$DIR/nova.pid")"
	log "keystone :$KS_PORT, neutron :$NT_PORT, fake nova :$NOVA_PORT up in $((SECONDS - t0)) s"
}

stop_pid() { # name
	local f=$DIR/$1.pid p i
	[[ -f $f ]] || return 0
	p=$(cat "$f")
	if kill -0 "$p" 2>/dev/null; then
		kill -CONT "$p" 2>/dev/null || true # a test may have frozen it
		kill "$p" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	fi
	rm -f "$f"
}

do_stop() {
	check_dir
	[[ -d $DIR ]] || return 0
	# neutron-server stops the rpc/periodic workers it forked; its process group
	# (setsid above) is ours alone, so whatever is left of it goes too.
	local pg=""
	[[ -f $DIR/neutron.pid ]] && pg=$(cat "$DIR/neutron.pid")
	stop_pid nova
	stop_pid neutron
	stop_pid keystone
	if [[ -n $pg ]] && pgrep -g "$pg" >/dev/null 2>&1; then
		kill -KILL -- "-$pg" 2>/dev/null || true
	fi
	rm -rf "$DIR"
}

do_nova_kill() {
	check_dir
	local p
	p=$(cat "$DIR/nova.pid")
	kill -KILL "$p" 2>/dev/null || true
	while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
	rm -f "$DIR/nova.pid"
}

do_nova_start() {
	check_dir
	[[ ! -f $DIR/nova.pid ]] || { log "the fake Nova runs already"; return 1; }
	NOVA_PORT=$(sed -n 's/^NOVA_PORT=//p' "$DIR/env")
	NT_PORT=$(sed -n 's/^NT_PORT=//p' "$DIR/env")
	KS=$(sed -n 's/^OS_AUTH_URL=//p' "$DIR/env")
	start_nova
	wait_http "http://127.0.0.1:$NOVA_PORT/_fake/stats" 30 "$(cat "$DIR/nova.pid")"
}

cmd=${1:-}
DIR=${2:-}
case "$cmd" in
install) do_install ;;
start) [[ -n $DIR ]] || { echo "usage: $0 start DIR" >&2; exit 2; }; do_start ;;
stop) [[ -n $DIR ]] || { echo "usage: $0 stop DIR" >&2; exit 2; }; do_stop ;;
nova-kill) [[ -n $DIR ]] || { echo "usage: $0 nova-kill DIR" >&2; exit 2; }; do_nova_kill ;;
nova-start) [[ -n $DIR ]] || { echo "usage: $0 nova-start DIR" >&2; exit 2; }; do_nova_start ;;
*) echo "usage: $0 install | start DIR | stop DIR | nova-kill DIR | nova-start DIR" >&2; exit 2 ;;
esac
