#!/usr/bin/env bash
# Syntax-check deploy/nginx.conf with the local nginx (`nginx -t`), as the compose proxy loads it: a
# server-level file included from the http block of nginx's main configuration. The upstream host `web`
# only resolves inside compose, and nginx resolves upstream hosts while checking, so the check runs on a
# copy where it is 127.0.0.1. Usage: deploy/check-nginx.sh [path/to/nginx.conf]
set -euo pipefail
conf=${1:-"$(dirname "$0")/nginx.conf"}
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed -E 's/^([[:space:]]*server[[:space:]]+)web:/\1127.0.0.1:/' "$conf" >"$work/default.conf"
if grep -qE '^[[:space:]]*server[[:space:]]+web:' "$work/default.conf"; then
  echo "check-nginx: the upstream host was not replaced" >&2
  exit 1
fi
mkdir -p "$work/logs"
cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log;
events { worker_connections 64; }
http {
    include /etc/nginx/mime.types;
    access_log $work/logs/access.log;
    client_body_temp_path $work/body;
    proxy_temp_path $work/proxy;
    include $work/default.conf;
}
CONF
"$nginx_bin" -t -p "$work" -c "$work/nginx.conf" -e "$work/logs/error.log"
echo "check-nginx: $conf is valid"
