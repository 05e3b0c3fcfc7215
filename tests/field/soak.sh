#!/bin/bash
# 30 minutes at 20% loss + 10% reordering, a message every 100 ms each way (not in CI; the
# figures go in the closing note of a change to the connection's resilience).
# Usage: soak.sh PEER LINK [ROLE]
exec bash "$(dirname "$0")/cell.sh" "$1" "$2" soak "${3:-offer}"
