#!/usr/bin/env bash
# Start the local Postgres and Redis when their ports are closed and their binaries exist,
# and install Graphviz where it is missing and apt can (the catalog draws lineage with it).
# On a machine without them, say so: the tests need both (the demo starts embedded ones).
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
    for _ in $(seq 1 60); do
        port_open "$1" && return 0
        sleep 0.5
    done
    echo "services: $2 did not open port $1 in 30 s" >&2
    return 1
}

if port_open 5432; then
    echo "postgres: up on 127.0.0.1:5432"
elif command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ] && [ -n "$(ls /etc/postgresql)" ]; then
    version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    echo "postgres: starting cluster $version/main"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_port 5432 postgres
else
    echo "postgres: nothing on 127.0.0.1:5432 and no pg_ctlcluster to start one" >&2
fi

if port_open 6379; then
    echo "redis: up on 127.0.0.1:6379"
elif command -v redis-server >/dev/null; then
    echo "redis: starting redis-server"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    wait_port 6379 redis
else
    echo "redis: nothing on 127.0.0.1:6379 and no redis-server to start one" >&2
fi

# Graphviz's `dot` draws the catalog's lineage pictures (GET /v1/assets/{id}/lineage.svg).
if command -v dot >/dev/null; then
    echo "graphviz: $(command -v dot)"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "graphviz: installing the Debian package"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q graphviz >/dev/null \
        || echo "graphviz: apt-get install failed; lineage pictures answer 503" >&2
else
    echo "graphviz: no dot; install the graphviz package for lineage pictures" >&2
fi
