#!/usr/bin/env bash
# Starts a 3-node mrci cluster on this machine: a private NATS server, one
# PostgreSQL database and three `mrci serve` nodes on 127.0.0.1, then waits;
# Ctrl-C stops everything. See docs/cluster.md ("Running a cluster").
#
#   deploy/cluster/run.sh           run until Ctrl-C (data kept in $MRCI_CLUSTER_DIR)
#   deploy/cluster/run.sh --check   start, log in on every node, stop, clean up
#
# Needs: go (or MRCI_BIN and MRCIC_BIN), nats-server (or NATS_URL), a
# PostgreSQL server that PGHOST/PGPORT/PGUSER (and PGPASSWORD) reach with
# the right to create a database.
set -euo pipefail

check=0
case "${1:-}" in
--check) check=1 ;;
"") ;;
-h | --help)
	sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

repo=$(cd "$(dirname "$0")/../.." && pwd)
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
base_port=${BASE_PORT:-35611}    # nodes listen on base_port, +1, +2
metrics_port=${METRICS_PORT:-9611} # and serve /metrics on metrics_port, +1, +2
nats_port=${NATS_PORT:-14222}    # the private NATS server (unless NATS_URL is set)
cluster_name=${CLUSTER_NAME:-demo}
root_password=${MRCI_ROOT_PASSWORD:-Cluster-Demo-1234}
if ((check)); then
	work=$(mktemp -d "${TMPDIR:-/tmp}/mrci-cluster-check.XXXXXX")
	db=${MRCI_DB:-mrci_check_$$}
else
	work=${MRCI_CLUSTER_DIR:-${TMPDIR:-/tmp}/mrci-cluster}
	db=${MRCI_DB:-mrci_cluster}
fi
mkdir -p "$work"
dsn="postgres://$PGUSER@$PGHOST:$PGPORT/$db?sslmode=${PGSSLMODE:-disable}"

pids=()
nats_pid=
db_created=0
say() { printf '%s\n' "$*"; }

stop_all() {
	trap - INT TERM EXIT
	say "stopping..."
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [[ -n $nats_pid ]]; then
		kill -TERM "$nats_pid" 2>/dev/null || true
		wait "$nats_pid" 2>/dev/null || true
	fi
	if ((check)); then
		((db_created)) && psql -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true
		rm -rf "$work"
	fi
	say "stopped"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# wait_for CMD...: runs CMD until it succeeds, at most 30 s.
wait_for() {
	local i
	for ((i = 0; i < 300; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# 1. The programs.
mrci=${MRCI_BIN:-}
mrcic=${MRCIC_BIN:-}
if [[ -z $mrci || -z $mrcic ]]; then
	say "building mrci and mrcic into $work/bin ..."
	(cd "$repo" && go build -o "$work/bin/mrci" ./cmd/mrci && go build -o "$work/bin/mrcic" ./cmd/mrcic)
	mrci=${mrci:-$work/bin/mrci}
	mrcic=${mrcic:-$work/bin/mrcic}
fi

# 2. NATS: the one in NATS_URL, or a private server on nats_port.
if [[ -n ${NATS_URL:-} ]]; then
	nats_url=$NATS_URL
else
	if port_open "$nats_port"; then
		say "port $nats_port is in use: set NATS_PORT, or NATS_URL to use that server" >&2
		exit 1
	fi
	mkdir -p "$work/nats"
	setsid nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$work/nats" >"$work/nats/nats.log" 2>&1 &
	nats_pid=$!
	wait_for port_open "$nats_port" || {
		say "nats-server did not start; see $work/nats/nats.log" >&2
		exit 1
	}
	nats_url=nats://127.0.0.1:$nats_port
fi

# 3. The database (created once; migrations run when the first node starts).
if ! psql -d postgres -Atc "SELECT 1" >/dev/null; then
	say "PostgreSQL at $PGHOST:$PGPORT (user $PGUSER) does not answer; set PGHOST, PGPORT, PGUSER, PGPASSWORD" >&2
	exit 1
fi
if [[ $(psql -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$db'") != 1 ]]; then
	psql -q -d postgres -c "CREATE DATABASE \"$db\"" >/dev/null
	db_created=1
fi

# 4. Three nodes. Node 1 starts first (it creates root and its certificate);
# nodes 2 and 3 serve the same certificate, so a client sees one host.
start_node() { # n [extra serve flags]
	local n=$1
	shift
	local dir=$work/node$n
	mkdir -p "$dir"
	MRCI_ROOT_PASSWORD=$root_password setsid "$mrci" serve --data-dir "$dir" \
		--database "$dsn" --cluster "$nats_url" --cluster-name "$cluster_name" --node-id "node$n" \
		--addr "127.0.0.1:$((base_port + n - 1))" --metrics-addr "127.0.0.1:$((metrics_port + n - 1))" \
		"$@" >>"$dir/mrci.log" 2>&1 &
	pids+=($!)
	if ! wait_for "$mrci" status --data-dir "$dir"; then
		say "node$n did not start; the end of $dir/mrci.log:" >&2
		tail -n 20 "$dir/mrci.log" >&2
		exit 1
	fi
}
start_node 1
cert=$work/node1/tls/cert.pem key=$work/node1/tls/key.pem
start_node 2 --tls-cert "$cert" --tls-key "$key"
start_node 3 --tls-cert "$cert" --tls-key "$key"

say ""
say "3 nodes are running (cluster \"$cluster_name\", NATS $nats_url, database $db):"
for n in 1 2 3; do
	say "  node$n  127.0.0.1:$((base_port + n - 1))  metrics http://127.0.0.1:$((metrics_port + n - 1))/metrics  log $work/node$n/mrci.log"
done
"$mrci" status --data-dir "$work/node1" | grep -E '^(Database|Cluster):' | sed 's/^/  /'

# 5. --check: every node answers a client and a login reaches the database.
if ((check)); then
	printf '%s\n' "$root_password" >"$work/root.pw"
	chmod 600 "$work/root.pw"
	for n in 1 2 3; do
		out=$("$mrcic" --addr "127.0.0.1:$((base_port + n - 1))" --user root --password-file "$work/root.pw" \
			--known-hosts '' -c host_info 2>&1) || {
			say "node$n: mrcic failed: $out" >&2
			exit 1
		}
		if ! grep -q "^Node ID: *node$n\$" <<<"$out"; then
			say "node$n: host_info does not name node$n:" >&2
			say "$out" >&2
			exit 1
		fi
		say "check: node$n answers and shows Node ID node$n"
	done
	say "check: ok"
	exit 0
fi

say ""
say "Connect with mrcic (root's password is $root_password unless MRCI_ROOT_PASSWORD was set at the first start):"
say "  go run ./cmd/mrcic --addr 127.0.0.1:$base_port --user root"
say "  go run ./cmd/mrcic --addr 127.0.0.1:$((base_port + 1)) --user root"
say "Status of a node: $mrci status --data-dir $work/node2"
say "Ctrl-C stops the nodes$([[ -n $nats_pid ]] && echo " and NATS"); the data stays in $work and database $db."
wait -n "${pids[@]}" || true
say "a node exited; see its log in $work" >&2
exit 1
