#!/usr/bin/env bash
# Release build time, binary size, per LTO setting: each profile builds the eleven handlers and
# the floor from nothing in its own target dir (a release machine's cold build), one after the
# other. Prints wall and CPU seconds and each binary's stripped size; cold start and memory of
# the same builds: `CARGO_TARGET_DIR=<dir> .venv/bin/python bench/handler_startup.py`.
# The sources are a snapshot of commit REV (default HEAD), so editing the tree meanwhile
# changes nothing.
#   [REV=<commit>] bash bench/release_profiles.sh [fat thin off]   (default: all three;
#   target dirs /tmp/backstop-rel-<profile>)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
git archive "${REV:-HEAD}" | tar -x -C "$src"
echo "sources: $(git rev-parse --short "${REV:-HEAD}")"
cd "$src"
handlers=$(ls functions)
packages=(-p floor)
for h in $handlers; do packages+=(-p "$h"); done

build() { # name, then cargo --config overrides
  local name=$1; shift
  local dir=/tmp/backstop-rel-$name
  rm -rf "$dir"
  local start=$(date +%s) cpu_before cpu_after
  cpu_before=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
  CARGO_TARGET_DIR=$dir CARGO_INCREMENTAL=0 cargo build --release --locked --quiet "$@" "${packages[@]}"
  local wall=$(( $(date +%s) - start ))
  cpu_after=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
  local cpu=$(( (cpu_after - cpu_before) / $(getconf CLK_TCK) ))
  local sizes="" total=0
  for h in $handlers; do
    local bytes=$(stat -c %s "$dir/release/$h")
    total=$(( total + bytes ))
    sizes+=" $h=$(awk -v b="$bytes" 'BEGIN {printf "%.1f", b/1048576}')"
  done
  printf '%s: wall %d s, cpu %d s, handlers %.1f MiB in all;%s\n' "$name" "$wall" "$cpu" \
    "$(awk -v b="$total" 'BEGIN {print b/1048576}')" "$sizes"
}

profiles=("$@")
[ ${#profiles[@]} -gt 0 ] || profiles=(fat thin off)
for profile in "${profiles[@]}"; do
  case $profile in
    fat) build fat ;;  # Cargo.toml's profile: opt-level "s", fat LTO, one codegen unit, strip
    thin) build thin --config 'profile.release.lto="thin"' --config 'profile.release.codegen-units=16' ;;
    off) build off --config 'profile.release.lto=false' --config 'profile.release.codegen-units=16' ;;
    *) echo "unknown profile $profile (fat, thin, off)" >&2; exit 2 ;;
  esac
done
