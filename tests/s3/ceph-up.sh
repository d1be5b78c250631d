#!/usr/bin/env bash
# Starts a single-node Ceph cluster (one mon, one memstore osd, one radosgw)
# bound to 127.0.0.1, for the S3 tests: no systemd, no mgr, everything under DIR.
#
#   tests/s3/ceph-up.sh DIR MON_V2_PORT MON_V1_PORT RGW_PORT OSD_PORT_MIN
#
# When S3 answers it writes DIR/pids (mon, osd, rgw: one PID a line; the
# caller stops them by PID) and DIR/s3.env (endpoint, keys), and exits 0.
# Exits 1 with a line on stderr if a daemon does not come up in time.
set -euo pipefail
D=$1 MON2=$2 MON1=$3 RGW=$4 OSDMIN=$5
mkdir -p "$D/run" "$D/log" "$D/mon.a" "$D/osd.0"
C=$D/ceph.conf K=$D/keyring
FSID=$(cat /proc/sys/kernel/random/uuid)
: >"$D/pids"

cat >"$C" <<CONF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON2,v1:127.0.0.1:$MON1]
mon initial members = a
public network = 127.0.0.0/8
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind port min = $OSDMIN
ms bind port max = $((OSDMIN + 40))
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = $K
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
mon cluster log file = default=$D/log/ceph.\$channel.log cluster=$D/log/ceph.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
osd crush chooseleaf type = 0
[mon]
mon data = $D/\$name
[osd]
osd data = $D/\$name
osd objectstore = memstore
memstore device bytes = 4294967296
osd memory target = 1073741824
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$RGW
rgw dns name = localhost
CONF

# Polls `$@` every 0.2 s for at most $1 seconds.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local i
  for ((i = 0; i < secs * 5; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "ceph-up: $what did not come up in ${secs}s (logs in $D/log)" >&2
  exit 1
}

ceph-authtool --create-keyring "$K" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$K" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
  --cap mgr 'allow *' >/dev/null
ceph-authtool "$K" --gen-key -n client.rgw.a --cap mon 'allow rw' --cap osd 'allow rwx' >/dev/null
monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON2,v1:127.0.0.1:$MON1]" \
  "$D/monmap" >/dev/null
ceph-mon -c "$C" --mkfs -i a --monmap "$D/monmap" --keyring "$K"
ceph-mon -c "$C" -i a -f >>"$D/log/mon.out" 2>&1 &
echo $! >>"$D/pids"
wait_for 30 ceph-mon ceph -c "$C" --connect-timeout 5 -s

OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
KEY=$(ceph-authtool --gen-print-key)
echo "{\"cephx_secret\": \"$KEY\"}" >"$D/osd.json"
ID=$(ceph -c "$C" osd new "$OSD_UUID" -i "$D/osd.json")
# The OSD authenticates with the shared keyring named in [global].
ceph-authtool "$K" -n "osd.$ID" --add-key "$KEY" >/dev/null
ceph-osd -c "$C" -i "$ID" --mkfs --key "$KEY" --osd-uuid "$OSD_UUID" >>"$D/log/osd.out" 2>&1
ceph-osd -c "$C" -i "$ID" -f >>"$D/log/osd.out" 2>&1 &
echo $! >>"$D/pids"
osd_up() { ceph -c "$C" --connect-timeout 5 osd stat | grep -q "1 up"; }
wait_for 60 ceph-osd osd_up

radosgw -c "$C" -n client.rgw.a -f >>"$D/log/rgw.out" 2>&1 &
echo $! >>"$D/pids"
wait_for 120 radosgw curl -sf "http://127.0.0.1:$RGW/"

radosgw-admin -c "$C" user create --uid=test --display-name=test \
  --access-key=ARCATESTACCESSKEY --secret-key=ARCATESTSECRETKEY0123456789 >/dev/null
cat >"$D/s3.env" <<ENV
endpoint=http://127.0.0.1:$RGW
access_key_id=ARCATESTACCESSKEY
secret_access_key=ARCATESTSECRETKEY0123456789
ENV
