#!/usr/bin/env bash
# The report's browser test drives Debian's chromium through Playwright; never download a browser.
# Installs chromium with apt when we are root and it is missing; otherwise leaves it to the
# test to skip with a message.
set -uo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium for the report's browser test"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "could not install chromium: the browser test will be skipped"
else
    echo "chromium is not installed and this user cannot install it: the browser test will be skipped"
fi
exit 0
