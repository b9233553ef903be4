#!/bin/sh
# Prepare the example application for serving:
#   - an encryption key in storage/app.key (this app has no .env file;
#     APP_KEY in the environment wins over it),
#   - the writable directories (storage/, bootstrap/cache/),
#   - the SQLite database database/database.sqlite, migrated, with the users
#     alice, bob and carol (password "secret"),
#   - ownership for the web server user (default www-data; OWNER=user:group
#     to change, OWNER= to leave ownership alone; only as root).
#
# Usage: ./setup.sh [APP_DIR]      (default: the directory of this script)
#        PHP=php8.2 ./setup.sh     (the PHP CLI to run artisan with)
set -eu

APP_DIR=${1:-$(cd "$(dirname "$0")" && pwd)}
PHP=${PHP:-php}
OWNER=${OWNER-www-data:www-data}
cd "$APP_DIR"

for d in storage/app/uploads storage/framework/cache/data storage/framework/sessions \
         storage/framework/views storage/logs bootstrap/cache; do
    mkdir -p "$d"
done

if [ ! -s storage/app.key ]; then
    umask 077
    "$PHP" -r 'echo "base64:", base64_encode(random_bytes(32)), "\n";' > storage/app.key
    umask 022
    echo "setup: generated storage/app.key"
fi

[ -f database/database.sqlite ] || : > database/database.sqlite

"$PHP" artisan migrate --force
"$PHP" artisan db:seed --force

if [ -n "$OWNER" ] && [ "$(id -u)" = 0 ] && id "${OWNER%%:*}" >/dev/null 2>&1; then
    # SQLite writes a journal next to the database file: the directory too.
    chown -R "$OWNER" storage bootstrap/cache database
    chmod 0640 storage/app.key
    echo "setup: storage/, bootstrap/cache/ and database/ belong to $OWNER"
fi

echo "setup: ready ($APP_DIR)"
