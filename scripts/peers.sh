#!/usr/bin/env bash
# Installs the real peers the interop suites drive, from Debian: sipp (sip-tester), Kamailio
# with its rtpproxy/registrar/usrloc/path/nathelper/dmq modules and db_sqlite (with the sqlite3
# shell that creates its location table, for the REGISTER benchmark), rtpengine (its rtpproxy
# protocol on --listen-udp), tshark and stunnel (Debian's sipp has no TLS: the TLS e2e tests put
# stunnel between sipp and the node), systemd for systemd-analyze (the packaging test verifies
# the service units with it), promtool (Debian's prometheus: the reference parser and linter
# of /metrics and of the shipped alert rules), redis-server and redis-cli (the federation tests
# start a six-instance Redis Cluster), and chromium (the dashboard's browser test drives
# it headless through playwright-core; nothing downloads a browser). Does nothing when they are
# already there.
set -euo pipefail
need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v kamailio >/dev/null 2>&1 || need+=(kamailio)
[ -e /usr/lib/x86_64-linux-gnu/kamailio/modules/db_sqlite.so ] || need+=(kamailio-sqlite-modules)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
command -v rtpengine >/dev/null 2>&1 || need+=(rtpengine-daemon)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v stunnel >/dev/null 2>&1 || need+=(stunnel4)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then
  echo "peers: sipp, kamailio, rtpengine, tshark, stunnel, systemd-analyze, promtool, redis and chromium are installed"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "peers: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
