#!/usr/bin/env bash
# tests/logscan/expect.sh <exit code> <text> <command…>: runs the command and passes only when it exits with that
# code AND its output (stdout and stderr) holds the text (a fixed string). A test of a checker built this way fails
# for the right reason only: a crash, a missing fixture or another outcome has another exit code or another line.
set -uo pipefail
want=$1
text=$2
shift 2
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if ((rc != want)); then
  echo "expect.sh: exit code $rc, expected $want" >&2
  exit 1
fi
if ! grep -qF -- "$text" <<<"$out"; then
  echo "expect.sh: the output lacks the line: $text" >&2
  exit 1
fi
echo "expect.sh: exit code $rc and \"$text\", as expected"
