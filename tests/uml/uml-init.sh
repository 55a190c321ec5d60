#!/bin/sh
# PID 1 of a user-mode-linux guest (recipe A of TEST-ENVIRONMENTS.md): private
# /run, /tmp, /var/tmp; the host's / stays read-only through hostfs except the
# one directory DIR (kernel argument umltest.dir=DIR), where DIR/run is run as
# a oneshot service once basic.target and D-Bus are up. Its output goes to
# DIR/out.log and its exit status to DIR/rc; then the guest powers off.
mount -t proc proc /proc
for a in $(cat /proc/cmdline); do case $a in umltest.dir=*) DIR=${a#umltest.dir=};; esac; done
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
mkdir -p "$DIR"                        # DIR may lie under the fresh /tmp
mount -t hostfs -o "$DIR" none "$DIR"  # the only writable window onto the host
mkdir -p /run/systemd/system
cat > /run/systemd/system/umltest.service <<EOT
[Unit]
Wants=basic.target dbus.socket
After=basic.target dbus.socket
SuccessAction=poweroff-force
FailureAction=poweroff-force
[Service]
Type=oneshot
ExecStart=/bin/sh -c '$DIR/run > $DIR/out.log 2>&1; echo \$? > $DIR/rc'
EOT
export container=   # the host has /.dockerenv; empty value = "not a container"
exec /lib/systemd/systemd --unit=umltest.service
