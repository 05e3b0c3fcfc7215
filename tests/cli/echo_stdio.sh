#!/bin/bash
# Two `peer echo` processes connected only by a pipe of their stdio (manual signaling):
# the offerer's stdout is the answerer's stdin and back, through two named FIFOs. The
# offerer probes 200 messages (text and binary, up to 64 KiB) and must get all back
# intact; the answerer must then see the connection closed and exit 0 too.
set -u
peer=$1
dir=$(mktemp -d)
trap 'kill $answerer 2>/dev/null; rm -rf "$dir"' EXIT
mkfifo "$dir/offer_to_answer" "$dir/answer_to_offer"
"$peer" echo --role answer --signal stdio --address 127.0.0.1 --timeout 30 \
  <"$dir/offer_to_answer" >"$dir/answer_to_offer" 2>"$dir/answer.log" &
answerer=$!
# Open the write end first, or both processes would wait on their read ends.
"$peer" echo --role offer --signal stdio --address 127.0.0.1 --timeout 30 --probe 200 \
  >"$dir/offer_to_answer" <"$dir/answer_to_offer" 2>"$dir/offer.log"
offer_rc=$?
for _ in $(seq 300); do kill -0 $answerer 2>/dev/null || break; sleep 0.1; done
wait $answerer
answer_rc=$?
echo "--- offerer (exit $offer_rc)"; cat "$dir/offer.log"
echo "--- answerer (exit $answer_rc)"; cat "$dir/answer.log"
[ "$offer_rc" = 0 ] && [ "$answer_rc" = 0 ]
