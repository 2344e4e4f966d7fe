#!/usr/bin/env bash
# Measures the transfer targets of issue 10 (docs/benchmarks.md, "files"):
#   * 1 GiB upload and download through pkg/client (mrcibench transfer),
#     plaintext and TLS, and OpenSSH sftp put/get of a file of the same size
#     on the same file system, interleaved in the same run, with the ratios;
#   * host RSS growth during the 1 GiB transfers, and the host's peak with
#     10 concurrent 100 MiB transfers;
#   * the cast rate of a session while the same session downloads.
# It starts its own hosts (mrcibench --spawn) and a private sshd on
# 127.0.0.1:$SSH_PORT (key authentication for root, generated keys, removed
# at the end).
#
# Needs: Go, OpenSSH server and client (apt-get install openssh-server; no
# system sshd is needed or touched), root (sshd), GNU time not required.
# Environment:
#   SIZE=1024        MiB per transfer
#   ROUNDS=3         interleaved rounds (the medians are printed at the end)
#   TMPDIR=/dev/shm  file system for the host's data dir and the sftp files
#   SSH_PORT=22822   port of the private sshd
#   MRCI=path        an mrci binary to measure instead of building this tree
#   SFTP_CIPHERS="chacha20-poly1305@openssh.com aes128-gcm@openssh.com"
set -euo pipefail
cd "$(dirname "$0")/.."
export TMPDIR=${TMPDIR:-/dev/shm}
size=${SIZE:-1024}
rounds=${ROUNDS:-3}
port=${SSH_PORT:-22822}
ciphers=${SFTP_CIPHERS:-chacha20-poly1305@openssh.com aes128-gcm@openssh.com}
work=$(mktemp -d)
cleanup() {
  if [ -f "$work/sshd.pid" ]; then kill "$(cat "$work/sshd.pid")" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/mrci" ./cmd/mrci
go build -o "$work/mrcibench" ./cmd/mrcibench
mrci=${MRCI:-$work/mrci}
# --workers 1: sessions log in one after the other (concurrent logins of one
# account meet the login delay).
bench() { timeout 900 "$work/mrcibench" --workers 1 --spawn "$mrci" "$@"; }

# A private sshd for the sftp comparison.
mkdir -p "$work/ssh" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$work/ssh/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/ssh/id"
cp "$work/ssh/id.pub" "$work/ssh/authorized_keys"
cat >"$work/ssh/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $work/ssh/host_key
PidFile $work/sshd.pid
AuthorizedKeysFile $work/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
EOF
/usr/sbin/sshd -f "$work/ssh/sshd_config" -E "$work/ssh/sshd.log"
for _ in $(seq 50); do [ -s "$work/sshd.pid" ] && break; sleep 0.1; done
head -c "${size}M" /dev/urandom >"$work/src.bin"
echo "put $work/src.bin $work/dst.bin" >"$work/put"
echo "get $work/dst.bin /dev/null" >"$work/get"
: >"$work/none"
now() { date +%s.%N; }
# sftp_gbs CIPHER BATCH: GB/s of one sftp batch, less the time of an empty
# session (connection set-up) measured just before it.
sftp_gbs() {
  local o=(-q -i "$work/ssh/id" -P "$port" -c "$1" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes)
  local t0 t1 t2
  t0=$(now)
  sftp "${o[@]}" -b "$work/none" root@127.0.0.1 >/dev/null
  t1=$(now)
  sftp "${o[@]}" -b "$work/$2" root@127.0.0.1 >/dev/null
  t2=$(now)
  awk -v n="$size" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "%.3f\n", n*1048576/1e9/((c-b)-(b-a)) }'
}

res="$work/results"
: >"$res"
echo "# $(date -u +%FT%TZ) $(nproc) CPUs, TMPDIR=$TMPDIR ($(df -T "$TMPDIR" | awk 'NR==2{print $2}')), SIZE=$size MiB; $(uptime)"
echo "# reference: dd of a fresh ${size} MiB file on TMPDIR: $(dd if=/dev/zero of="$work/dd.bin" bs=1M count="$size" 2>&1 | tail -1)"
rm -f "$work/dd.bin"
for r in $(seq "$rounds"); do
  for tls in plain tls; do
    flag=""
    [ "$tls" = tls ] && flag="--tls"
    bench $flag transfer --size "$size" >"$work/out" 2>&1 || { cat "$work/out"; exit 1; }
    sed "s/^/round $r: /" "$work/out"
    awk -v t="$tls" '/^(upload|download) /{print t, $1, $7}' "$work/out" >>"$res"
  done
  for c in $ciphers; do
    for dir in put get; do
      g=$(sftp_gbs "$c" "$dir")
      echo "round $r: sftp $dir $c: $g GB/s"
      echo "sftp-$c $dir $g" >>"$res"
    done
  done
done

median() { sort -n | awk '{v[NR]=$1} END { if (NR==0) print "-"; else if (NR%2) print v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2 }'; }
med() { awk -v a="$1" -v b="$2" '$1==a && $2==b {print $3}' "$res" | median; }
echo
echo "medians of $rounds rounds (GB/s):"
for k in "plain upload" "plain download" "tls upload" "tls download"; do
  # shellcheck disable=SC2086
  echo "  mrci $k: $(med $k)"
done
for c in $ciphers; do
  for dir in put get; do echo "  sftp $dir ($c): $(med "sftp-$c" $dir)"; done
done
for c in $ciphers; do
  echo "  ratio mrci/sftp ($c): upload plain $(awk -v a="$(med plain upload)" -v b="$(med "sftp-$c" put)" 'BEGIN{printf "%.1f", a/b}'),"\
    "tls $(awk -v a="$(med tls upload)" -v b="$(med "sftp-$c" put)" 'BEGIN{printf "%.1f", a/b}');"\
    "download plain $(awk -v a="$(med plain download)" -v b="$(med "sftp-$c" get)" 'BEGIN{printf "%.1f", a/b}'),"\
    "tls $(awk -v a="$(med tls download)" -v b="$(med "sftp-$c" get)" 'BEGIN{printf "%.1f", a/b}')"
done

echo
echo "10 concurrent 100 MiB transfers (host peak must stay under 256 MiB):"
bench transfer -p 10 --size 100
bench --tls transfer -p 10 --size 100
echo
echo "casts beside a download (must keep at least half the rate):"
bench transfer --size 256 --casts 300000
bench --tls transfer --size 256 --casts 300000
