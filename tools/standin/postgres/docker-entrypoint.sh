#!/bin/sh
# The official postgres image's interface, for the stand-in: POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB and
# PGDATA; on first start initdb with SCRAM-SHA-256 for every network client and the database created; any
# non-root uid (initdb wants a passwd entry: nss_wrapper fakes one, as the official image does).
set -eu
if [ "${1:-}" != postgres ]; then
	exec "$@"
fi
if ! getent passwd "$(id -u)" >/dev/null 2>&1; then
	NSS_WRAPPER_PASSWD=$(mktemp /tmp/passwd.XXXXXX)
	NSS_WRAPPER_GROUP=$(mktemp /tmp/group.XXXXXX)
	cat /etc/passwd >"$NSS_WRAPPER_PASSWD"
	echo "postgres:x:$(id -u):$(id -g):PostgreSQL:$PGDATA:/bin/false" >>"$NSS_WRAPPER_PASSWD"
	cat /etc/group >"$NSS_WRAPPER_GROUP"
	echo "postgres:x:$(id -g):" >>"$NSS_WRAPPER_GROUP"
	LD_PRELOAD=$(find /usr/lib -name libnss_wrapper.so | head -n 1)
	export NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP LD_PRELOAD
fi
# As the official entrypoint does on every start: a volume's fsGroup handling may have opened the folder to the
# group, and PostgreSQL refuses to start on a data directory others may read.
if [ -d "$PGDATA" ]; then
	chmod 700 "$PGDATA"
fi
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		echo "POSTGRES_PASSWORD is required" >&2
		exit 1
	fi
	mkdir -p "$PGDATA"
	chmod 700 "$PGDATA"
	password_file=$(mktemp /tmp/password.XXXXXX)
	printf '%s' "$POSTGRES_PASSWORD" >"$password_file"
	initdb --pgdata="$PGDATA" --username="$user" --pwfile="$password_file" --auth-local=trust \
		--auth-host=scram-sha-256 >/dev/null
	rm -f "$password_file"
	echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
	if [ "$database" != postgres ]; then
		pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses= -k /tmp" --wait start >/dev/null
		psql --host=/tmp --username="$user" --dbname=postgres --set=ON_ERROR_STOP=1 --quiet \
			--command="CREATE DATABASE \"$database\""
		pg_ctl --pgdata="$PGDATA" --mode=fast --wait stop >/dev/null
	fi
fi
shift
exec postgres -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql "$@"
