#!/usr/bin/env bash
# setup.sh - prepares a running `akidb serve` for the wrk scripts: creates
# collection $COLLECTION (default "bench") bound to $MODEL (default: the
# server's default model) and upserts $POINTS texts (default 2000) in
# batches of 100.  Needs curl.  AKIDB_URL defaults to http://127.0.0.1:8080;
# AKIDB_KEY is sent when set (writer role or higher).
#   AKIDB_KEY=ak_... bench/load/setup.sh
set -euo pipefail
url="${AKIDB_URL:-http://127.0.0.1:8080}"
coll="${COLLECTION:-bench}"
points="${POINTS:-2000}"
auth=()
if [[ -n "${AKIDB_KEY:-}" ]]; then auth=(-H "Authorization: Bearer $AKIDB_KEY"); fi

model_field=""
if [[ -n "${MODEL:-}" ]]; then
  model_field="\"model\":\"$MODEL\""
else
  # the first entry of /v1/models is the default model
  model=$(curl -fsS "${auth[@]}" "$url/v1/models" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p' | head -n1)
  [[ -n "$model" ]] || { echo "setup: the server has no model loaded" >&2; exit 1; }
  model_field="\"model\":\"$model\""
fi
code=$(curl -sS -o /dev/null -w '%{http_code}' "${auth[@]}" -H 'Content-Type: application/json' \
       "$url/api/v1/collections" -d "{\"name\":\"$coll\",$model_field}")
case "$code" in
  201) echo "setup: created collection $coll" ;;
  409) echo "setup: collection $coll exists" ;;
  *) echo "setup: creating $coll failed with HTTP $code" >&2; exit 1 ;;
esac

words=(vector database embedding model search query token batch latency memory small
       machine cosine neighbour index graph layer text sentence server request cache)
n=0
while (( n < points )); do
  body='{"points":['
  for ((i = 0; i < 100 && n < points; i++, n++)); do
    t=""
    for ((w = 0; w < 10; w++)); do t+="${words[$(( (n * 31 + w * 17 + n / 7) % ${#words[@]} ))]} "; done
    ((i > 0)) && body+=','
    body+="{\"id\":\"doc-$n\",\"text\":\"$t\",\"payload\":{\"n\":$((n % 100)),\"group\":\"g$((n % 5))\"}}"
  done
  body+=']}'
  curl -fsS "${auth[@]}" -H 'Content-Type: application/json' \
       "$url/api/v1/collections/$coll/points" -d "$body" > /dev/null
done
echo "setup: $points points in $coll"
