# Shared shell functions of the test scripts: packages, build, throwaway cluster.
# Source it; it sets ANON_ROOT, PGBIN and PG_CONFIG.

ANON_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# ANON_PGBIN runs the tests against another (relocated) copy of the server.
PGBIN=${ANON_PGBIN:-/usr/lib/postgresql/15/bin}
PG_CONFIG=$PGBIN/pg_config
export PG_CONFIG
ANON_TMP=
ANON_KEEP=0

# Install what the build and the tests need, with the dev headers pinned to
# the installed server's version (an unpinned install would upgrade it).
anon_install_packages() {
	local need=() server
	server=$(dpkg-query -W -f='${Version}' postgresql-15)
	[ "$(dpkg-query -W -f='${Version}' postgresql-server-dev-15 2>/dev/null)" = "$server" ] ||
		need+=("postgresql-server-dev-15=$server")
	[ -f /usr/share/postgresql/15/extension/pgtap.control ] || need+=(postgresql-15-pgtap)
	command -v pg_prove >/dev/null || need+=(libtap-parser-sourcehandler-pgtap-perl)
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || need+=("$pkg")
	done
	[ ${#need[@]} -eq 0 ] && return 0
	echo "installing: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

# Build the extension and install it into the server's directories.
anon_build() {
	make -C "$ANON_ROOT" -s PG_CONFIG="$PG_CONFIG" >/dev/null
	make -C "$ANON_ROOT" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# Stop and remove the throwaway cluster, unless it is to be kept.
anon_stop_cluster() {
	[ -n "$ANON_TMP" ] || return 0
	if [ "$ANON_KEEP" = 1 ]; then
		return 0
	fi
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$ANON_TMP/data" -m immediate -w stop >/dev/null 2>&1 || true
	rm -rf "$ANON_TMP"
	ANON_TMP=
}

# Start a throwaway cluster as the postgres OS user on a private socket
# directory and port; extra arguments are server settings (-c name=value).
# ANON_LOCALE is its locale (default C.UTF-8; "none" for initdb --no-locale).
# It is stopped and removed on every exit path.
anon_start_cluster() {
	local port
	ANON_TMP=$(mktemp -d /tmp/anonymize.XXXXXX)
	chown postgres:postgres "$ANON_TMP"
	chmod 700 "$ANON_TMP"
	trap anon_stop_cluster EXIT
	trap 'exit 130' INT TERM
	mkdir "$ANON_TMP/sock" && chown postgres:postgres "$ANON_TMP/sock"
	port=$((55000 + RANDOM % 2000))
	local locale=--locale=${ANON_LOCALE:-C.UTF-8}
	[ "${ANON_LOCALE:-}" = none ] && locale=--no-locale
	runuser -u postgres -- "$PGBIN/initdb" -D "$ANON_TMP/data" -U postgres -A trust \
		--no-sync -E UTF8 "$locale" >"$ANON_TMP/initdb.log" 2>&1 ||
		{ cat "$ANON_TMP/initdb.log"; return 1; }
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$ANON_TMP/data" -l "$ANON_TMP/server.log" -w \
		-o "-c listen_addresses='' -k $ANON_TMP/sock -p $port -c fsync=off $*" start >/dev/null ||
		{ cat "$ANON_TMP/server.log"; return 1; }
	export PGHOST=$ANON_TMP/sock PGPORT=$port PGUSER=postgres PGDATABASE=postgres
}

# psql with settings fit for scripts.
anon_psql() {
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"
}

# ---- Citus: a coordinator and workers, each its own throwaway cluster ----

# Citus from the PostgreSQL directories, or installed from the build that the
# repository's neighbour ../shared/citus holds (root only); false if neither.
anon_citus_available() {
	local lib installer
	lib=$("$PG_CONFIG" --pkglibdir)/citus.so
	[ -f "$lib" ] && return 0
	for installer in "${ANON_CITUS_INSTALL:-}" "$ANON_ROOT/../shared/citus/install" /work/shared/citus/install; do
		[ -n "$installer" ] && [ -f "$installer" ] && break
		installer=
	done
	[ -n "$installer" ] && [ "$(id -u)" = 0 ] || return 1
	sh "$installer" >/dev/null || return 1
	# a relocated copy of the server (ANON_PGBIN) takes the files from /usr
	if [ ! -f "$lib" ] && [ -f /usr/lib/postgresql/15/lib/citus.so ]; then
		cp -a /usr/lib/postgresql/15/lib/citus*.so "$("$PG_CONFIG" --pkglibdir)/"
		cp -a /usr/share/postgresql/15/extension/citus* "$("$PG_CONFIG" --sharedir)/extension/"
	fi
	[ -f "$lib" ]
}

ANON_CITUS_TMP=()

# Stop and remove the Citus clusters, unless they are to be kept.
anon_stop_citus() {
	local dir
	[ "$ANON_KEEP" = 1 ] && return 0
	for dir in "${ANON_CITUS_TMP[@]}"; do
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
		rm -rf "$dir"
	done
	ANON_CITUS_TMP=()
}

# Start a coordinator and ANON_CITUS_WORKERS (default 2) workers on loopback
# ports, as the postgres OS user, with CREATE EXTENSION citus in database
# postgres of each and the workers added; extra arguments are server settings.
# Sets CITUS_HOST, CITUS_PORTS (coordinator first) and CITUS_DIRS (their
# data directories); everything is stopped and removed on every exit path.
anon_start_citus() {
	local n=$((1 + ${ANON_CITUS_WORKERS:-2})) base i dir port
	trap 'anon_stop_citus; anon_stop_cluster' EXIT
	trap 'exit 130' INT TERM
	base=$((40000 + RANDOM % 10000))
	CITUS_HOST=127.0.0.1 CITUS_PORTS=() CITUS_DIRS=()
	for ((i = 0; i < n; i++)); do
		dir=$(mktemp -d /tmp/anonymize-citus.XXXXXX)
		ANON_CITUS_TMP+=("$dir")
		chown postgres:postgres "$dir" && chmod 700 "$dir"
		port=$((base + i))
		runuser -u postgres -- "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust \
			--no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
			{ cat "$dir/initdb.log"; return 1; }
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
			-o "-c listen_addresses=127.0.0.1 -k $dir -p $port -c fsync=off -c shared_preload_libraries=citus -c max_prepared_transactions=100 $*" \
			start >/dev/null || { cat "$dir/server.log"; return 1; }
		CITUS_PORTS+=("$port") CITUS_DIRS+=("$dir/data")
		anon_psql -h "$CITUS_HOST" -p "$port" -U postgres -d postgres -c 'CREATE EXTENSION citus' >/dev/null
	done
	anon_psql -h "$CITUS_HOST" -p "${CITUS_PORTS[0]}" -U postgres -d postgres \
		-c "SELECT citus_set_coordinator_host('$CITUS_HOST', ${CITUS_PORTS[0]})" >/dev/null
	for ((i = 1; i < n; i++)); do
		anon_psql -h "$CITUS_HOST" -p "${CITUS_PORTS[0]}" -U postgres -d postgres \
			-c "SELECT citus_add_node('$CITUS_HOST', ${CITUS_PORTS[i]})" >/dev/null
	done
	export CITUS_HOST
}
