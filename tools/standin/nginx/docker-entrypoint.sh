#!/bin/sh
# Render nginx's templates with the environment, then run the command (nginx-unprivileged's contract):
# /etc/nginx/templates/<path>.template -> $NGINX_ENVSUBST_OUTPUT_DIR/<path>, substituting only the variables
# whose names match the extended regular expression $NGINX_ENVSUBST_FILTER (all of them when it is empty).
set -eu

templates=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
output=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}
filter=${NGINX_ENVSUBST_FILTER:-.*}

if [ -d "$templates" ]; then
  names=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' | grep -E -- "$filter" || true)
  variables=""
  for name in $names; do
    variables="$variables \${$name}"
  done
  find "$templates" -follow -type f -name '*.template' | while read -r template; do
    relative=${template#"$templates"/}
    destination="$output/${relative%.template}"
    mkdir -p "$(dirname "$destination")"
    envsubst "$variables" <"$template" >"$destination"
  done
fi

exec "$@"
