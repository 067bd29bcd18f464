#!/bin/sh
# Run once by the postgres image when it creates the database (docker-compose.yml
# mounts it in /docker-entrypoint-initdb.d). The tables' owner is POSTGRES_USER,
# which only `migrate` connects as; the app replicas connect as throughcare_app,
# which `throughcare db upgrade --grant-to throughcare_app` gives only what the
# service needs (docs/audit.md, "The service's PostgreSQL role").
set -eu
psql -v ON_ERROR_STOP=1 -v role="${APP_DB_ROLE:-throughcare_app}" -v password="$APP_DB_PASSWORD" \
    --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
SQL
