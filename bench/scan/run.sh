#!/usr/bin/env bash
# Scan throughput on one generated tree, same rules everywhere:
#   parallel cat (read ceiling) | yr scan (YARA-X CLI) | Vigil via clamdscan --multiscan --fdpass
#   | real clamd via the same clamdscan with an equivalent .ndb/.hdb database.
# Usage: bench/scan/run.sh [FILES=20000] [TOTAL_MB=2000]
# Needs: python3, clamav-daemon, clamdscan, clamav-testfiles (scripts/install-test-deps.sh),
# and builds yara-x-cli into bench/out/yr on first use (about 14 CPU-minutes).
set -euo pipefail
cd "$(dirname "$0")/../.."
FILES=${1:-20000}
TOTAL_MB=${2:-2000}
YARA_X_VERSION=1.22.1 # keep equal to the yara-x pin in crates/scan/Cargo.toml
OUT=$PWD/bench/out/scan
TREE=$OUT/tree-$FILES-$TOTAL_MB
RUN=$OUT/run
THREADS=$(nproc)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
mkdir -p "$OUT" "$RUN"

# VIGIL=/path/to/vigil measures that binary instead of building this tree's.
if [ -z "${VIGIL:-}" ]; then
  cargo build --release --bin vigil
  VIGIL=$CARGO_TARGET_DIR/release/vigil
fi
YR=$PWD/bench/out/yr/bin/yr
[ -x "$YR" ] || cargo install yara-x-cli --version "$YARA_X_VERSION" --locked --root "$PWD/bench/out/yr"
[ -f "$TREE/planted.txt" ] || python3 bench/scan/gen_tree.py "$TREE" "$FILES" "$TOTAL_MB"

# Equivalent rule sets: yr and Vigil use Vigil's built-in YARA file itself; clamd gets the
# same detections as body signatures (EICAR anywhere, GTUBE) and the same hash entry.
RULES=$PWD/crates/scan/rules/default.yar
DB=$RUN/clamd-db
mkdir -p "$DB"
hexof() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
{
  echo "Vigil.Test.EICAR:0:*:$(hexof 'X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*')"
  echo "Vigil.Test.GTUBE:0:*:$(hexof 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X')"
} > "$DB/bench.ndb"
grep -v '^#' crates/scan/rules/default.hdb > "$DB/bench.hdb"

cleanup() {
  [ -n "${VIGIL_PID:-}" ] && kill "$VIGIL_PID" 2>/dev/null || true
  [ -n "${CLAMD_PID:-}" ] && kill "$CLAMD_PID" 2>/dev/null || true
}
trap cleanup EXIT

# SCANNER_ARGS adds options, e.g. "--isolation thread".
# shellcheck disable=SC2086
"$VIGIL" scanner --listen off --socket "$RUN/vigil.sock" --scan-threads "$THREADS" ${SCANNER_ARGS:-} > "$RUN/vigil.log" 2>&1 &
VIGIL_PID=$!
cat > "$RUN/clamd.conf" <<CONF
DatabaseDirectory $DB
LocalSocket $RUN/clamd.sock
Foreground yes
LogFile $RUN/clamd.log
User root
CONF
rm -f "$RUN/clamd.sock"
clamd -c "$RUN/clamd.conf" > /dev/null 2>&1 &
CLAMD_PID=$!
echo "LocalSocket $RUN/vigil.sock" > "$RUN/clamdscan-vigil.conf"
echo "LocalSocket $RUN/clamd.sock" > "$RUN/clamdscan-clamd.conf"
for sock in vigil clamd; do
  for _ in $(seq 600); do [ -S "$RUN/$sock.sock" ] && break; sleep 0.1; done
done

BYTES=$(find "$TREE" -type f ! -name planted.txt -printf '%s\n' | awk '{s+=$1} END {print s}')
COUNT=$(find "$TREE" -type f ! -name planted.txt | wc -l)
PLANTED=$(wc -l < "$TREE/planted.txt")
printf 'tree: %s files, %.0f MiB, %s planted; %s threads\n' "$COUNT" "$(echo "$BYTES / 1048576" | bc -l)" "$PLANTED" "$THREADS"
# Warm the page cache so every tool reads from memory.
find "$TREE" -type f -print0 | xargs -0 -P "$THREADS" -n 256 cat > /dev/null

# CPU seconds (user + system) a server and its worker processes have used so far. On a
# shared, loaded machine this moves much less than wall time does.
server_cpu() { # pid
  local ticks=0 pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    # Fields 14-17: utime, stime, and the reaped children's cutime, cstime.
    ticks=$((ticks + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$ticks / $(getconf CLK_TCK)" | bc -l
}
declare -A SECONDS_OF CPU_OF
measure() { # name, server pid or "-" (the command's own CPU is counted then), command...
  local name=$1 server=$2; shift 2
  local start end cpu0
  [ "$server" = - ] || cpu0=$(server_cpu "$server")
  start=$(date +%s.%N)
  { TIMEFORMAT='%3U %3S'; time "$@" > "$RUN/$name.out" 2> "$RUN/$name.err" || true; } 2> "$RUN/$name.time"
  end=$(date +%s.%N)
  SECONDS_OF[$name]=$(echo "$end - $start" | bc -l)
  if [ "$server" = - ]; then
    CPU_OF[$name]=$(awk '{print $1 + $2}' "$RUN/$name.time")
  else
    CPU_OF[$name]=$(echo "$(server_cpu "$server") - $cpu0" | bc -l)
  fi
}
found_paths() { grep ' FOUND$' "$1" | sed -e 's/: [^:]* FOUND$//' -e "s|^$TREE/||" | sort -u; }

measure cat - bash -c "find '$TREE' -type f -print0 | xargs -0 -P $THREADS -n 256 cat > /dev/null"
measure yr - "$YR" scan --recursive --threads "$THREADS" --disable-console-logs "$RULES" "$TREE"
measure vigil "$VIGIL_PID" clamdscan --config-file="$RUN/clamdscan-vigil.conf" --multiscan --fdpass --no-summary "$TREE"
measure vigil_2 "$VIGIL_PID" clamdscan --config-file="$RUN/clamdscan-vigil.conf" --multiscan --fdpass --no-summary "$TREE"
measure vigil_walk "$VIGIL_PID" clamdscan --config-file="$RUN/clamdscan-vigil.conf" --multiscan --no-summary "$TREE"
measure clamd "$CLAMD_PID" clamdscan --config-file="$RUN/clamdscan-clamd.conf" --multiscan --fdpass --no-summary "$TREE"
measure clamd_2 "$CLAMD_PID" clamdscan --config-file="$RUN/clamdscan-clamd.conf" --multiscan --fdpass --no-summary "$TREE"

row() { # label, key, detections
  local s=${SECONDS_OF[$2]}
  printf '%-44s %8.2f s %7.2f s CPU %9.0f MB/s %9.0f files/s   %s\n' "$1" "$s" "${CPU_OF[$2]}" \
    "$(echo "$BYTES / 1000000 / $s" | bc -l)" "$(echo "$COUNT / $s" | bc -l)" "$3"
}
yr_found=$(awk '{print $2}' "$RUN/yr.out" | sort -u | wc -l)
check() { # key -> "found N of M planted, exact|DIFFERS"
  local got; got=$(found_paths "$RUN/$1.out")
  if [ "$got" = "$(sort "$TREE/planted.txt")" ]; then echo "found exactly the $PLANTED planted files"
  else echo "DIFFERS: $(printf '%s\n' "$got" | grep -c . ) reported vs $PLANTED planted"; fi
}
echo
row "parallel cat (read ceiling)" cat ""
row "yr scan -r ($YARA_X_VERSION, $THREADS threads)" yr "$yr_found files matched (yr does not unpack zips)"
row "vigil: clamdscan --multiscan --fdpass" vigil "$(check vigil)"
row "vigil: same, second run" vigil_2 "$(check vigil_2)"
row "vigil: clamdscan --multiscan (server walks)" vigil_walk "$(check vigil_walk)"
row "clamd 1.4: clamdscan --multiscan --fdpass" clamd "$(check clamd)"
row "clamd: same, second run (clean cache warm)" clamd_2 "$(check clamd_2)"
echo
ratio() { printf '%-44s %6.2fx\n' "$1" "$(echo "${SECONDS_OF[$3]} / ${SECONDS_OF[$2]}" | bc -l)"; }
ratio "vigil / yr (throughput)" vigil yr
ratio "vigil server-side walk / yr (throughput)" vigil_walk yr
ratio "vigil / clamd cold (throughput)" vigil clamd
ratio "vigil / clamd warm cache (throughput)" vigil clamd_2
ratio "vigil / parallel cat (throughput)" vigil cat
cpu_ratio() { printf '%-44s %6.2fx\n' "$1" "$(echo "${CPU_OF[$2]} / ${CPU_OF[$3]}" | bc -l)"; }
echo "CPU seconds (the server and its workers; yr and cat: the process itself):"
cpu_ratio "vigil CPU / yr CPU" vigil yr
cpu_ratio "vigil server-side walk CPU / yr CPU" vigil_walk yr
cpu_ratio "vigil CPU / clamd cold CPU" vigil clamd
