#!/bin/sh
# READY=1 reaches $NOTIFY_SOCKET once the mount is live.
. "$(dirname "$0")/lib.sh"
h5fs_test_init

F=$WORK/s.h5 M=$WORK/mnt S=$WORK/notify.sock
"$PY" "$TESTS_DIR/h5fs_fixtures.py" make sample "$F" || fail "fixture"
"$PY" -c "
import socket, sys, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('$S')
open('$WORK/listening', 'w').close()
s.settimeout(30)
msg = s.recv(4096).decode()
ok = os.path.ismount('$M')
open('$WORK/got', 'w').write(msg + ('\nmounted' if ok else '\nnot mounted'))
" &
lp=$!
i=0
while [ ! -e "$WORK/listening" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
NOTIFY_SOCKET=$S h5fs_mount "$F" "$M" || fail "mount"
wait $lp || fail "no notification within 30 s"
grep -qx 'READY=1' "$WORK/got" || fail "got: $(cat "$WORK/got")"
grep -qx 'mounted' "$WORK/got" || fail "READY=1 came before the mount was live"
h5fs_umount "$M"
h5fs_check_log "$M"
h5fs_done
