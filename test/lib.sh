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
