#!/usr/bin/env bash
# Usage: scripts/check_disk.sh MIB WHAT [DIR]
# Stop before a long install when the disk under the checkout has less than MIB MiB free, with a
# message that says how much is needed and for what; pip would otherwise stop minutes later, half way,
# with "No space left on device". A virtual environment with torch takes about 2.1 GiB here. DIR, when
# given and present (a virtual environment left half installed), already holds part of what is needed.
set -euo pipefail
need_mib=${1:?usage: scripts/check_disk.sh MIB WHAT [DIR]}
what=${2:-this step}
dir=${3:-}
if [ -n "$dir" ] && [ -d "$dir" ]; then
  have_mib=$(du -sm "$dir" | awk '{print $1}')
  need_mib=$(( need_mib > have_mib ? need_mib - have_mib : 0 ))
fi
free_mib=$(df -Pm . | awk 'NR == 2 {print $4}')
if [ "$free_mib" -lt "$need_mib" ]; then
  echo "not enough disk space for $what: $free_mib MiB free under $PWD, about $need_mib MiB needed;" \
    "free some space (old clones, virtual environments, runs/) and run the command again" >&2
  exit 1
fi
