# Sourced by run-on-gpu.sh (and by benchmarks/pytorch/test_gpu_runner_limits.py, with made-up tables): how the time of
# a device call is shared among the runner's steps, and the time of the tests-gpu step among its test classes. Both
# levels use the same rule, over a list of names, each with a reserve (seconds kept for it while the ones before it
# run) and a most (the longest it may take):
#
#   share_reserves RESERVES EFFECTIVE ROOM NAME...
#       When the reserves of NAME... and their kill grace (GRACE_S each) fit in ROOM seconds, each keeps its reserve.
#       Otherwise they are scaled down: each keeps MIN_START_S (the least a step or class is started with) and the
#       rest of ROOM, after the grace and those minimums, is shared in proportion to (reserve - MIN_START_S); rounding
#       down, so the shares never add up to more than ROOM. With under GRACE_S + MIN_START_S seconds for each name,
#       every reserve is 0: the names then run in order, each up to its most, until the time runs out.
#   limit_of_name MOST EFFECTIVE END NAME LIST...
#       The seconds NAME may run for when started now (elapsed): min(MOST[NAME], END - elapsed - GRACE_S - the
#       effective reserves of the names after NAME in LIST..., GRACE_S each (none for a reserve of 0)), at least 0.
#       Under MIN_START_S it is not started.
#
# RESERVES, EFFECTIVE and MOST are the names of associative arrays (name -> seconds); EFFECTIVE is filled by
# share_reserves. Needs bash 4.3 or later (namerefs).
GRACE_S=5       # SIGTERM, then SIGKILL this much later (timeout --kill-after): a JVM stops at once; dl-train checkpoints first
MIN_START_S=5   # a step or test class given less than this is not started

# The clock: elapsed prints the whole seconds since this file was sourced, from the kernel's uptime (/proc/uptime),
# which a step of the wall clock does not move. bash's SECONDS follows the wall clock (gettimeofday): with it, a
# +300 s step in the middle of tests-gpu (a stand-in gettimeofday) left five test classes 'not run', and a -300 s one
# gave the later steps their most, past the call's end. Without /proc/uptime, SECONDS.
uptime_s() { local up rest; if read -r up rest 2>/dev/null < /proc/uptime; then echo "${up%.*}"; else echo "$SECONDS"; fi; }
START_S=$(uptime_s)
elapsed() { echo $(($(uptime_s) - START_S)); }

share_reserves() {  # share_reserves RESERVES EFFECTIVE ROOM NAME...
  local -n _res=$1 _eff=$2
  local room=$3 n total=0 s
  shift 3
  n=$#
  for s in "$@"; do total=$((total + _res[$s])); done
  local free=$((room - n * GRACE_S))   # what the reserves themselves may come to
  for s in "$@"; do
    if [ "$free" -ge "$total" ]; then
      _eff[$s]=${_res[$s]}
    elif [ "$free" -lt $((n * MIN_START_S)) ] || [ "$total" -le $((n * MIN_START_S)) ]; then
      _eff[$s]=0
    else
      _eff[$s]=$((MIN_START_S + (_res[$s] - MIN_START_S) * (free - n * MIN_START_S) / (total - n * MIN_START_S)))
    fi
  done
}

kept_after() {  # kept_after EFFECTIVE NAME LIST...: the seconds kept for the names after NAME (reserve + grace each)
  local -n _eff=$1
  local name=$2 later=0 after="" s
  shift 2
  for s in "$@"; do
    [ -n "$after" ] && [ "${_eff[$s]}" -gt 0 ] && later=$((later + _eff[$s] + GRACE_S))
    [ "$s" = "$name" ] && after=1
  done
  echo "$later"
}

limit_of_name() {  # limit_of_name MOST EFFECTIVE END NAME LIST...
  local -n _most=$1
  local eff=$2 end=$3 name=$4 later left
  shift 4
  later=$(kept_after "$eff" "$name" "$@")
  left=$((end - $(elapsed) - GRACE_S - later))
  [ "$left" -lt 0 ] && left=0
  echo $((left < _most[$name] ? left : _most[$name]))
}
